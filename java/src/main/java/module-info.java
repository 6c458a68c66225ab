/**
 * netcl: RMSProp on OpenCL devices for the JVM ({@code netcl.optim}) and its checkpoints in the
 * safetensors format ({@code netcl.checkpoint}). The jextract-generated {@code netcl.bindings}
 * stay internal.
 */
module netcl {
    requires com.fasterxml.jackson.core;

    exports netcl.optim;
    exports netcl.checkpoint;
}
