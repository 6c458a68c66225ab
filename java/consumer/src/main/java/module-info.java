/** On the module path the consumer reads the netcl module; on the class path this is ignored. */
module netcl.consumer {
    requires netcl;
}
