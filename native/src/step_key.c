/* A step's tensor list and group layout, kept to recognise the same list at a later step (see
 * step_key in optimizer.h). */
#include <stdlib.h>
#include <string.h>

#include "optimizer.h"

int netcl_step_key_matches_groups(const step_key *key, const netcl_param_group *groups,
                                  uint32_t group_count, uint32_t tensor_count)
{
    if (key->tensors == NULL || key->tensor_count != tensor_count ||
        key->group_count != group_count) {
        return 0;
    }
    for (uint32_t g = 0; g < group_count; ++g) {
        if (key->groups[3 * g] != groups[g].first || key->groups[3 * g + 1] != groups[g].count ||
            key->groups[3 * g + 2] != group_variant(&groups[g])) {
            return 0;
        }
    }
    return 1;
}

int netcl_step_key_matches(const step_key *key, const netcl_param_group *groups,
                           uint32_t group_count, const netcl_tensor *tensors, uint32_t tensor_count)
{
    return netcl_step_key_matches_groups(key, groups, group_count, tensor_count) &&
           (tensor_count == 0 || memcmp(key->tensors, tensors, tensor_count * sizeof *tensors) == 0);
}

int netcl_step_key_matches_but_grads(const step_key *key, const netcl_param_group *groups,
                                     uint32_t group_count, const netcl_tensor *tensors,
                                     uint32_t tensor_count)
{
    if (!netcl_step_key_matches_groups(key, groups, group_count, tensor_count)) {
        return 0;
    }
    for (uint32_t i = 0; i < tensor_count; ++i) {
        const netcl_tensor *was = &key->tensors[i], *t = &tensors[i];
        if (t->data != was->data || t->data_mem != was->data_mem || t->grad_mem != was->grad_mem ||
            t->data_offset != was->data_offset || t->grad_offset != was->grad_offset ||
            t->numel != was->numel || t->dtype != was->dtype ||
            (t->grad == NULL) != (was->grad == NULL)) {
            return 0;
        }
    }
    return 1;
}

netcl_status netcl_step_key_set(step_key *key, const netcl_param_group *groups,
                                uint32_t group_count, const netcl_tensor *tensors,
                                uint32_t tensor_count)
{
    netcl_step_key_release(key);
    key->tensors = malloc((tensor_count ? tensor_count : 1) * sizeof *key->tensors);
    key->groups = malloc((group_count ? group_count : 1) * 3 * sizeof *key->groups);
    if (key->tensors == NULL || key->groups == NULL) {
        netcl_step_key_release(key);
        return netcl_fail(NETCL_OUT_OF_HOST_MEMORY, "allocating a copy of the tensor list failed");
    }
    if (tensor_count > 0) {  /* a step over no tensors passes NULL */
        memcpy(key->tensors, tensors, tensor_count * sizeof *tensors);
    }
    for (uint32_t g = 0; g < group_count; ++g) {
        key->groups[3 * g] = groups[g].first;
        key->groups[3 * g + 1] = groups[g].count;
        key->groups[3 * g + 2] = group_variant(&groups[g]);
    }
    key->tensor_count = tensor_count;
    key->group_count = group_count;
    return NETCL_SUCCESS;
}

void netcl_step_key_release(step_key *key)
{
    free(key->tensors);
    free(key->groups);
    memset(key, 0, sizeof *key);
}
