# Run by `cmake --install` (and cpack): the parts of the layout that depend
# on the prefix given at install time. TAILTRACK_SOURCE_DIR is set before.
set(prefix "${CMAKE_INSTALL_PREFIX}")
if(prefix STREQUAL "/usr")
  set(etc "/etc")
else()
  set(etc "${prefix}/etc")
endif()

# The man page and the Debian changelog, compressed as Debian wants them
# (gzip -9n: no name or time inside, so that builds are reproducible).
foreach(pair "docs/tailtrack.1;share/man/man1/tailtrack.1.gz"
             "packaging/debian/changelog;share/doc/tailtrack/changelog.Debian.gz")
  list(GET pair 0 from)
  list(GET pair 1 to)
  get_filename_component(dir "$ENV{DESTDIR}${prefix}/${to}" DIRECTORY)
  file(MAKE_DIRECTORY "${dir}")
  message(STATUS "Installing: $ENV{DESTDIR}${prefix}/${to}")
  execute_process(COMMAND gzip -9n -c "${TAILTRACK_SOURCE_DIR}/${from}"
                  OUTPUT_FILE "$ENV{DESTDIR}${prefix}/${to}" RESULT_VARIABLE failed)
  if(failed)
    message(FATAL_ERROR "gzip ${from} failed")
  endif()
endforeach()

# The unit, naming this install's binary and configuration.
file(READ "${TAILTRACK_SOURCE_DIR}/systemd/tailtrack.service" unit)
string(REPLACE "/usr/bin/tailtrack" "${prefix}/bin/tailtrack" unit "${unit}")
string(REPLACE "/etc/tailtrack" "${etc}/tailtrack" unit "${unit}")
# Debian 12 keeps packaged units in /lib/systemd/system (the same directory
# as /usr/lib/systemd/system on a merged /usr).
if(prefix STREQUAL "/usr")
  set(unit_dir "$ENV{DESTDIR}/lib/systemd/system")
else()
  set(unit_dir "$ENV{DESTDIR}${prefix}/lib/systemd/system")
endif()
file(MAKE_DIRECTORY "${unit_dir}")
message(STATUS "Installing: ${unit_dir}/tailtrack.service")
file(WRITE "${unit_dir}/tailtrack.service" "${unit}")

# The configuration; an existing one is the operator's and is kept.
set(config "$ENV{DESTDIR}${etc}/tailtrack/tailtrack.yaml")
if(EXISTS "${config}")
  message(STATUS "Keeping: ${config}")
else()
  # file(INSTALL) puts DESTDIR in front itself.
  file(INSTALL "${TAILTRACK_SOURCE_DIR}/config/tailtrack.yaml" DESTINATION "${etc}/tailtrack"
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
endif()

# The state directory the unit's StateDirectory= names, in a package (prefix /usr).
if(prefix STREQUAL "/usr")
  file(MAKE_DIRECTORY "$ENV{DESTDIR}/var/lib/tailtrack")
endif()
