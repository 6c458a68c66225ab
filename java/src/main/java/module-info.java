/**
 * netcl: RMSProp on OpenCL devices for the JVM ({@code netcl.optim}), its checkpoints in the
 * safetensors format ({@code netcl.checkpoint}) and data-parallel training over MPI
 * ({@code netcl.dist}). The jextract-generated {@code netcl.bindings} stay internal.
 */
module netcl {
    requires com.fasterxml.jackson.core;

    exports netcl.optim;
    exports netcl.checkpoint;
    exports netcl.dist;
}
