/* netcl_mpi: MPI's handles resolved in C, its errors turned into statuses (netcl_mpi.h). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <mpi.h>

#include "netcl_mpi.h"

struct netcl_mpi_comm {
    MPI_Comm comm;
    int rank;
    int size;
};

static _Thread_local char last_error[1024];

static netcl_mpi_status fail(netcl_mpi_status status, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(last_error, sizeof last_error, format, args);
    va_end(args);
    return status;
}

/* An MPI error code becomes NETCL_MPI_FAILED with MPI's own description. */
static netcl_mpi_status mpi_fail(int code, const char *call)
{
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) {
        snprintf(text, sizeof text, "MPI error %d", code);
    }
    return fail(NETCL_MPI_FAILED, "%s failed: %s", call, text);
}

int32_t netcl_mpi_abi_version(void)
{
    return NETCL_MPI_ABI_VERSION;
}

const char *netcl_mpi_last_error(void)
{
    return last_error;
}

const char *netcl_mpi_status_name(netcl_mpi_status status)
{
    switch (status) {
#define NAME(code) case code: return #code;
        NAME(NETCL_MPI_SUCCESS)
        NAME(NETCL_MPI_INVALID_ARGUMENT)
        NAME(NETCL_MPI_FAILED)
        NAME(NETCL_MPI_FINALIZED)
        NAME(NETCL_MPI_OUT_OF_HOST_MEMORY)
#undef NAME
    default:
        return "NETCL_MPI_UNKNOWN_STATUS";
    }
}

/*
 * Open MPI opens its components (transports, collectives) with dlopen, and they resolve symbols
 * of libmpi and libopen-pal through the global namespace. The JVM (System.load) and other
 * dlopen-based loaders open libnetcl_mpi and its dependencies RTLD_LOCAL, so the components would
 * fail to load. Reopening libmpi with RTLD_GLOBAL (RTLD_NOLOAD: it is already mapped) makes its
 * symbols global, as mpi4py does. The library is found through one of its own symbols, so no
 * file name is assumed.
 */
static void promote_libmpi_to_global(void)
{
    /* ISO C has no cast from a function pointer to void *; POSIX guarantees this one works. */
    union {
        int (*function)(int *, char ***, int, int *);
        void *object;
    } symbol = {.function = MPI_Init_thread};
    Dl_info info;
    if (dladdr(symbol.object, &info) != 0 && info.dli_fname != NULL) {
        /* The handle stays open for the life of the process, like libmpi itself. */
        (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
    }
}

static netcl_mpi_status ensure_initialized(void)
{
    int initialized = 0, finalized = 0, provided = 0;
    MPI_Finalized(&finalized);
    if (finalized) {
        return fail(NETCL_MPI_FINALIZED, "MPI was finalized in this process; it cannot be initialized again");
    }
    MPI_Initialized(&initialized);
    if (initialized) {
        return NETCL_MPI_SUCCESS;
    }
    promote_libmpi_to_global();
    /*
     * The JVM handles SIGSEGV itself (implicit null checks, safepoint polls). Open MPI leaves
     * handlers installed before MPI_Init alone (its opal_signal), but UCX, which Open MPI loads
     * for InfiniBand and RoCE, installs its own error handlers over them unless UCX_ERROR_SIGNALS
     * is empty; the JVM would then crash at its first null check. A value the user set is kept.
     * UCX reads it when Open MPI opens it, inside MPI_Init_thread, so setting it here suffices.
     */
    setenv("UCX_ERROR_SIGNALS", "", 0);
    int code = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided);
    if (code != MPI_SUCCESS) {
        return fail(NETCL_MPI_FAILED, "MPI_Init_thread failed with code %d", code);
    }
    if (provided < MPI_THREAD_SERIALIZED) {
        return fail(NETCL_MPI_FAILED, "MPI provides thread level %d, netcl needs MPI_THREAD_SERIALIZED (%d)",
                    provided, MPI_THREAD_SERIALIZED);
    }
    return NETCL_MPI_SUCCESS;
}

netcl_mpi_status netcl_mpi_world_create(netcl_mpi_comm **out)
{
    if (out == NULL) {
        return fail(NETCL_MPI_INVALID_ARGUMENT, "out is NULL");
    }
    *out = NULL;
    netcl_mpi_status status = ensure_initialized();
    if (status != NETCL_MPI_SUCCESS) {
        return status;
    }
    netcl_mpi_comm *comm = calloc(1, sizeof *comm);
    if (comm == NULL) {
        return fail(NETCL_MPI_OUT_OF_HOST_MEMORY, "allocating a communicator");
    }
    comm->comm = MPI_COMM_NULL;
    /* Errors on the world itself (the duplicate below) are returned too, not fatal. */
    int code = MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    if (code != MPI_SUCCESS) {
        status = mpi_fail(code, "MPI_Comm_set_errhandler");
        goto cleanup;
    }
    code = MPI_Comm_dup(MPI_COMM_WORLD, &comm->comm);
    if (code != MPI_SUCCESS) {
        status = mpi_fail(code, "MPI_Comm_dup");
        goto cleanup;
    }
    if ((code = MPI_Comm_rank(comm->comm, &comm->rank)) != MPI_SUCCESS) {
        status = mpi_fail(code, "MPI_Comm_rank");
        goto cleanup;
    }
    if ((code = MPI_Comm_size(comm->comm, &comm->size)) != MPI_SUCCESS) {
        status = mpi_fail(code, "MPI_Comm_size");
        goto cleanup;
    }
    *out = comm;
    return NETCL_MPI_SUCCESS;

cleanup:
    if (comm->comm != MPI_COMM_NULL) {
        MPI_Comm_free(&comm->comm);
    }
    free(comm);
    return status;
}

netcl_mpi_status netcl_mpi_comm_destroy(netcl_mpi_comm *comm)
{
    if (comm == NULL) {
        return NETCL_MPI_SUCCESS;
    }
    int finalized = 0;
    MPI_Finalized(&finalized);
    int code = finalized ? MPI_SUCCESS : MPI_Comm_free(&comm->comm);
    free(comm);
    return code == MPI_SUCCESS ? NETCL_MPI_SUCCESS : mpi_fail(code, "MPI_Comm_free");
}

netcl_mpi_status netcl_mpi_finalize(void)
{
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (!initialized || finalized) {
        return NETCL_MPI_SUCCESS;
    }
    int code = MPI_Finalize();
    return code == MPI_SUCCESS ? NETCL_MPI_SUCCESS : mpi_fail(code, "MPI_Finalize");
}

netcl_mpi_status netcl_mpi_comm_rank(const netcl_mpi_comm *comm, int32_t *rank)
{
    if (comm == NULL || rank == NULL) {
        return fail(NETCL_MPI_INVALID_ARGUMENT, "comm or rank is NULL");
    }
    *rank = comm->rank;
    return NETCL_MPI_SUCCESS;
}

netcl_mpi_status netcl_mpi_comm_size(const netcl_mpi_comm *comm, int32_t *size)
{
    if (comm == NULL || size == NULL) {
        return fail(NETCL_MPI_INVALID_ARGUMENT, "comm or size is NULL");
    }
    *size = comm->size;
    return NETCL_MPI_SUCCESS;
}

/* Counts are non-negative and (with displacements) describe blocks inside an int-sized buffer. */
static netcl_mpi_status check_counts(const netcl_mpi_comm *comm, const int32_t *counts, const int32_t *displs)
{
    int64_t total = 0;
    for (int r = 0; r < comm->size; r++) {
        if (counts[r] < 0) {
            return fail(NETCL_MPI_INVALID_ARGUMENT, "counts[%d] is negative (%d)", r, counts[r]);
        }
        if (displs != NULL && displs[r] < 0) {
            return fail(NETCL_MPI_INVALID_ARGUMENT, "displs[%d] is negative (%d)", r, displs[r]);
        }
        total += counts[r];
    }
    if (total > INT32_MAX) {
        return fail(NETCL_MPI_INVALID_ARGUMENT, "counts add up to %lld floats, more than MPI's int counts allow",
                    (long long)total);
    }
    return NETCL_MPI_SUCCESS;
}

netcl_mpi_status netcl_mpi_reduce_scatter_sum(const netcl_mpi_comm *comm, const float *send, float *recv,
                                              const int32_t *counts)
{
    if (comm == NULL || send == NULL || counts == NULL) {
        return fail(NETCL_MPI_INVALID_ARGUMENT, "comm, send or counts is NULL");
    }
    netcl_mpi_status status = check_counts(comm, counts, NULL);
    if (status != NETCL_MPI_SUCCESS) {
        return status;
    }
    if (recv == NULL && counts[comm->rank] > 0) {
        return fail(NETCL_MPI_INVALID_ARGUMENT, "recv is NULL but this rank receives %d floats", counts[comm->rank]);
    }
    int code = MPI_Reduce_scatter(send, recv, counts, MPI_FLOAT, MPI_SUM, comm->comm);
    return code == MPI_SUCCESS ? NETCL_MPI_SUCCESS : mpi_fail(code, "MPI_Reduce_scatter");
}

netcl_mpi_status netcl_mpi_reduce_scatter_mean(const netcl_mpi_comm *comm, const float *send, float *recv,
                                               const int32_t *counts)
{
    netcl_mpi_status status = netcl_mpi_reduce_scatter_sum(comm, send, recv, counts);
    if (status != NETCL_MPI_SUCCESS) {
        return status;
    }
    /* One pass the compiler vectorizes; in Java this loop cost as much as the update itself. */
    const float ranks = (float)comm->size;
    for (int32_t k = 0; k < counts[comm->rank]; k++) {
        recv[k] /= ranks;
    }
    return NETCL_MPI_SUCCESS;
}

netcl_mpi_status netcl_mpi_allgatherv(const netcl_mpi_comm *comm, float *buffer, const int32_t *counts,
                                      const int32_t *displs)
{
    if (comm == NULL || buffer == NULL || counts == NULL || displs == NULL) {
        return fail(NETCL_MPI_INVALID_ARGUMENT, "comm, buffer, counts or displs is NULL");
    }
    netcl_mpi_status status = check_counts(comm, counts, displs);
    if (status != NETCL_MPI_SUCCESS) {
        return status;
    }
    int code = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buffer, counts, displs, MPI_FLOAT, comm->comm);
    return code == MPI_SUCCESS ? NETCL_MPI_SUCCESS : mpi_fail(code, "MPI_Allgatherv");
}

netcl_mpi_status netcl_mpi_gatherv(const netcl_mpi_comm *comm, const float *send, int32_t count, float *recv,
                                   const int32_t *counts, const int32_t *displs, int32_t root)
{
    if (comm == NULL || (send == NULL && count > 0) || count < 0) {
        return fail(NETCL_MPI_INVALID_ARGUMENT, "comm is NULL, or send is NULL, or count %d is negative", count);
    }
    if (root < 0 || root >= comm->size) {
        return fail(NETCL_MPI_INVALID_ARGUMENT, "root %d is not a rank of a world of %d", root, comm->size);
    }
    if (comm->rank == root) {
        if (recv == NULL || counts == NULL || displs == NULL) {
            return fail(NETCL_MPI_INVALID_ARGUMENT, "recv, counts or displs is NULL on the root");
        }
        netcl_mpi_status status = check_counts(comm, counts, displs);
        if (status != NETCL_MPI_SUCCESS) {
            return status;
        }
    }
    /* A non-NULL send buffer even for an empty block: some MPIs reject NULL. */
    static const float none[1];
    int code = MPI_Gatherv(send != NULL ? send : none, count, MPI_FLOAT, recv, counts, displs, MPI_FLOAT, root,
                           comm->comm);
    return code == MPI_SUCCESS ? NETCL_MPI_SUCCESS : mpi_fail(code, "MPI_Gatherv");
}

netcl_mpi_status netcl_mpi_allreduce_max(const netcl_mpi_comm *comm, int64_t *values, int32_t count)
{
    if (comm == NULL || values == NULL || count <= 0) {
        return fail(NETCL_MPI_INVALID_ARGUMENT, "comm or values is NULL, or count %d is not positive", count);
    }
    int code = MPI_Allreduce(MPI_IN_PLACE, values, count, MPI_INT64_T, MPI_MAX, comm->comm);
    return code == MPI_SUCCESS ? NETCL_MPI_SUCCESS : mpi_fail(code, "MPI_Allreduce");
}

netcl_mpi_status netcl_mpi_barrier(const netcl_mpi_comm *comm)
{
    if (comm == NULL) {
        return fail(NETCL_MPI_INVALID_ARGUMENT, "comm is NULL");
    }
    int code = MPI_Barrier(comm->comm);
    return code == MPI_SUCCESS ? NETCL_MPI_SUCCESS : mpi_fail(code, "MPI_Barrier");
}

netcl_mpi_status netcl_mpi_abort(const netcl_mpi_comm *comm, int32_t code)
{
    if (comm == NULL) {
        return fail(NETCL_MPI_INVALID_ARGUMENT, "comm is NULL");
    }
    int result = MPI_Abort(comm->comm, code);
    return mpi_fail(result, "MPI_Abort");
}
