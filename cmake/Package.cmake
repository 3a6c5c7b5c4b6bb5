# The Debian package (`make package` → build/adam_<version>_amd64.deb): adamd,
# adamctl, the systemd unit, the default config and the docs
# (docs/operations.md "Running as a service").
include(GNUInstallDirs)
# cpack (VmPackage packs the build at hand) must not build every test first:
# `make package` builds before packing.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
install(TARGETS adamd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(TARGETS adamctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
# Debian's places, whatever the prefix: systemd reads units from /lib, and the
# unit names the config by its /etc path.
install(FILES packaging/adamd.service DESTINATION /lib/systemd/system)
install(FILES packaging/adamd.toml DESTINATION /etc/adam)
install(FILES README.md docs/operations.md docs/api.md docs/firewall.md docs/monitor.md docs/lsm.md
              docs/lb.md docs/plugins.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME adam)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_CONTACT "ADAM maintainers <adam@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Agent-based Device Audit Monitor: eBPF firewall, process monitor, LSM and load balancer")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
# The libraries adamd and adamctl link, as dpkg-shlibdeps finds them. adamd
# runs no other program (the demo lab's `ip` is for `make run`, not a service).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/debian/conffiles ${CMAKE_SOURCE_DIR}/packaging/debian/postinst
    ${CMAKE_SOURCE_DIR}/packaging/debian/prerm ${CMAKE_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# RelWithDebInfo binaries are 300 MB with their debug info; the package is not.
set(CPACK_STRIP_FILES ON)
include(CPack)
