/**
 * netcl: RMSProp on OpenCL devices for the JVM. {@code netcl.optim} and {@code netcl.dist}
 * (data-parallel training over MPI) are exported; the
 * jextract-generated {@code netcl.bindings} stay internal.
 */
module netcl {
    exports netcl.optim;
    exports netcl.dist;
}
