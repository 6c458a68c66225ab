/*
 * The default device over simulated device lists (netcl_choose_default_device, compiled into this
 * test from native/src): host tensors go to a CPU device sharing host memory even when a GPU comes
 * first, device-resident tensors to a discrete GPU, and devices without correctly rounded divide
 * and sqrt are skipped.
 */
#include "device_choice.h"
#include "test_util.h"

enum kind { CPU, IGPU, DGPU, ACCEL, OTHER };

/* A device description as netcl_device_get_info would give it; `exact` = correctly rounded
 * divide and sqrt. */
static netcl_device_info device(enum kind kind, int exact)
{
    netcl_device_info d;
    memset(&d, 0, sizeof d);
    d.is_cpu = kind == CPU;
    d.is_gpu = kind == IGPU || kind == DGPU;
    d.is_accelerator = kind == ACCEL;
    d.host_unified_memory = kind == CPU || kind == IGPU;
    d.correctly_rounded_divide_sqrt = exact;
    return d;
}

#define LIST(...) ((netcl_device_info[]){__VA_ARGS__}), \
    (uint32_t)(sizeof((netcl_device_info[]){__VA_ARGS__}) / sizeof(netcl_device_info))

static void expect_choice(const char *what, const netcl_device_info *devices, uint32_t count,
                          uint32_t host, uint32_t on_device)
{
    const uint32_t got_host = netcl_choose_default_device(devices, count, NETCL_FOR_HOST_TENSORS);
    const uint32_t got_device = netcl_choose_default_device(devices, count, NETCL_FOR_DEVICE_TENSORS);
    CHECK(got_host == host, "%s, host tensors: chose %u, expected %u", what, got_host, host);
    CHECK(got_device == on_device, "%s, device tensors: chose %u, expected %u", what, got_device,
          on_device);
}

int main(void)
{
    /* The machine that made GPUs the default slower for host tensors: a discrete GPU, then PoCL. */
    expect_choice("discrete GPU + CPU", LIST(device(DGPU, 1), device(CPU, 1)), 1, 0);
    expect_choice("CPU + discrete GPU", LIST(device(CPU, 1), device(DGPU, 1)), 0, 1);
    /* The only device, whatever its kind. */
    expect_choice("CPU alone", LIST(device(CPU, 1)), 0, 0);
    expect_choice("discrete GPU alone", LIST(device(DGPU, 1)), 0, 0);
    /* Without a CPU device, host tensors take a device sharing host memory (no PCIe copies);
     * device tensors prefer the discrete GPU's own memory. */
    expect_choice("discrete + integrated GPU", LIST(device(DGPU, 1), device(IGPU, 1)), 1, 0);
    expect_choice("integrated GPU + CPU", LIST(device(IGPU, 1), device(CPU, 1)), 1, 0);
    expect_choice("accelerator + CPU", LIST(device(ACCEL, 1), device(CPU, 1)), 1, 0);
    expect_choice("accelerator + discrete GPU", LIST(device(ACCEL, 1), device(DGPU, 1)), 1, 1);
    expect_choice("other + accelerator", LIST(device(OTHER, 1), device(ACCEL, 1)), 1, 1);
    expect_choice("other alone", LIST(device(OTHER, 1)), 0, 0);
    /* Inexact devices are skipped, not chosen to fail later. */
    expect_choice("inexact GPU + CPU", LIST(device(DGPU, 0), device(CPU, 1)), 1, 1);
    expect_choice("inexact CPU + GPU", LIST(device(CPU, 0), device(DGPU, 1)), 1, 1);
    expect_choice("inexact CPU + inexact GPU + integrated GPU",
                  LIST(device(CPU, 0), device(DGPU, 0), device(IGPU, 1)), 2, 2);
    expect_choice("nothing exact", LIST(device(CPU, 0), device(DGPU, 0)), 2, 2);
    expect_choice("no devices", NULL, 0, 0, 0);
    /* Ties go to the lower index. */
    expect_choice("two CPUs, two GPUs",
                  LIST(device(DGPU, 1), device(CPU, 1), device(DGPU, 1), device(CPU, 1)), 1, 0);
    return test_finish("test_device_choice");
}
