/**
 * netcl: RMSProp on OpenCL devices for the JVM. Only {@code netcl.optim} is exported; the
 * jextract-generated {@code netcl.bindings} stay internal.
 */
module netcl {
    exports netcl.optim;
}
