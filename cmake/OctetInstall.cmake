# `cmake --install <build> [--prefix P]`: the runtime's static libraries, their
# public headers and a CMake package, so that a service does
#
#   find_package(Octet REQUIRED)
#   target_link_libraries(app PRIVATE Octet::runtime)
#
# (docs/embedding.md, examples/embed/). The libraries are static, so the export
# set holds octet_runtime and every library it links, and OctetConfig.cmake
# finds the third-party packages their link interfaces name. octet_warnings is
# linked as $<BUILD_INTERFACE:...> and is not part of the package.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(_octet_install_libs octet_compiler octet_onnx octet_data octet_module octet_passes
    octet_quant octet_reference octet_compile octet_runtime)
set(_octet_include_dirs compiler/include passes/include passes/quant/include
    backends/reference/include backends/compile/include runtime/include)
if(TARGET octet_x86)
  list(APPEND _octet_install_libs octet_x86)
  list(APPEND _octet_include_dirs backends/x86/include)
endif()
if(TARGET octet_cuda)
  list(APPEND _octet_install_libs octet_cuda)
  list(APPEND _octet_include_dirs backends/cuda/include)
endif()

foreach(_lib IN LISTS _octet_install_libs)
  string(REGEX REPLACE "^octet_" "" _name "${_lib}")
  set_target_properties(${_lib} PROPERTIES EXPORT_NAME ${_name})
  add_library(Octet::${_name} ALIAS ${_lib})
endforeach()

install(TARGETS ${_octet_install_libs} EXPORT OctetTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
foreach(_dir IN LISTS _octet_include_dirs)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${_dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endforeach()

set(_octet_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/Octet)
install(EXPORT OctetTargets NAMESPACE Octet:: DESTINATION ${_octet_cmake_dir})

# What OctetConfig.cmake must find again: the x86 backend (oneDNN, from the
# same dnnl_DIR as this build) and how stb was linked (pkg-config or a path).
set(OCTET_CONFIG_HAVE_CUDA OFF)
if(TARGET octet_cuda)
  set(OCTET_CONFIG_HAVE_CUDA ON)
endif()
set(OCTET_CONFIG_HAVE_X86 OFF)
set(OCTET_CONFIG_DNNL_DIR "")
if(TARGET octet_x86)
  set(OCTET_CONFIG_HAVE_X86 ON)
  set(OCTET_CONFIG_DNNL_DIR "${dnnl_DIR}")
endif()
# (PkgConfig::STB is local to compiler/, so look at what octet_data links.)
get_target_property(_octet_data_links octet_data LINK_LIBRARIES)
set(OCTET_CONFIG_STB_PKGCONFIG OFF)
if("PkgConfig::STB" IN_LIST _octet_data_links)
  set(OCTET_CONFIG_STB_PKGCONFIG ON)
endif()

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/OctetConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/OctetConfig.cmake
                              INSTALL_DESTINATION ${_octet_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/OctetConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/OctetConfig.cmake ${PROJECT_BINARY_DIR}/OctetConfigVersion.cmake
        DESTINATION ${_octet_cmake_dir})
