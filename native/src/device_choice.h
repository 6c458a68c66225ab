/* The default device: a pure choice over device descriptions (no OpenCL call), so that a test can
 * hand it any device list. Not part of the public API. */
#ifndef NETCL_DEVICE_CHOICE_H
#define NETCL_DEVICE_CHOICE_H

#include <stdint.h>

#include "netcl.h"

/* The index of the default device for `use` (enum netcl_device_use) among `devices`, ordered as
 * netcl_context_create_for describes; `count` when none of them can run netcl exactly. */
uint32_t netcl_choose_default_device(const netcl_device_info *devices, uint32_t count, int32_t use);

#endif
