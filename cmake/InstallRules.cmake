# Install rules for the library, its header, the CMake package (find_package(netcl) gives the
# imported target netcl::netcl) and netcl.pc for pkg-config. Included by the top CMakeLists.txt.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(NETCL_CMAKE_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/netcl)

target_include_directories(netcl PUBLIC $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
install(TARGETS netcl EXPORT netclTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  PUBLIC_HEADER DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT netclTargets NAMESPACE netcl:: DESTINATION ${NETCL_CMAKE_INSTALL_DIR})

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/netclConfig.cmake.in
  ${PROJECT_BINARY_DIR}/netclConfig.cmake
  INSTALL_DESTINATION ${NETCL_CMAKE_INSTALL_DIR})
# Before 1.0 a minor release may change the API: find_package(netcl 0.1) accepts 0.1.x only.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/netclConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/netclConfig.cmake ${PROJECT_BINARY_DIR}/netclConfigVersion.cmake
  DESTINATION ${NETCL_CMAKE_INSTALL_DIR})

# netcl.pc finds its prefix from its own folder (${pcfiledir}), so it stays right when the
# prefix is chosen at install time (cmake --install --prefix DIR) or the tree is moved.
foreach(kind LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${kind}}")
    set(NETCL_PC_${kind} "${CMAKE_INSTALL_${kind}}")
  else()
    set(NETCL_PC_${kind} "\${prefix}/${CMAKE_INSTALL_${kind}}")
  endif()
endforeach()
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(NETCL_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH pc_to_prefix "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
  string(REGEX REPLACE "/$" "" pc_to_prefix "${pc_to_prefix}")
  set(NETCL_PC_PREFIX "\${pcfiledir}/${pc_to_prefix}")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/netcl.pc.in ${PROJECT_BINARY_DIR}/netcl.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/netcl.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
