# cmake -DROOT=<source dir> -P CheckLayering.cmake: fails (and names the
# file and line) if a module includes what DESIGN.md's "Modules" table says
# it may not use. Link dependencies are PRIVATE where possible, but headers
# under the source root and libssh/httplib/CLI11 in /usr/include compile from
# anywhere, so the include lines are checked here too (ctest: layering).
#
#   folder                  may not include
#   gateway/app             gateway/{sshd,web,ctl}, libssh, httplib, CLI11
#   gateway/sshd            gateway/{web,ctl}, httplib, CLI11
#   gateway/web             gateway/{sshd,ctl}, libssh, CLI11
#   gateway/ctl             gateway/{sshd,web}, libssh, httplib
#   authn, policy, recorder gateway/, libssh, httplib, CLI11, each other
#   evidence                authn, policy, recorder, gateway/, libssh, httplib, CLI11, common/database*, common/config.h
#   common                  authn, policy, recorder, gateway/, libssh, httplib, CLI11
#   notify                  authn, policy, recorder, evidence, gateway/, libssh, httplib, CLI11
# Only notify/transport.cpp includes libcurl.
# gateway/ itself (the mains, and daemon.cpp which puts sshd and web
# together) and tests/ may use everything.
#
# Each storage engine stays inside its file: only common/database_sqlite.cpp
# includes SQLiteCpp or sqlite3.h, only common/database_postgres.cpp libpq,
# and only common/database*.cpp the engine interface (database_engine.h).
# The stores run SQL through the engine-neutral common/database_sql.h (and recorder/recorder_sql.h,
# recorder/text_match.h); no header but the first two includes them, and no
# gateway/ source but a unit test does.
set(forbid_gateway "\"gateway/")
set(forbid_libssh "<libssh/")
set(forbid_httplib "<httplib.h>")
set(forbid_cli11 "<CLI/")
set(forbid_libs ${forbid_libssh} ${forbid_httplib} ${forbid_cli11})
set(dirs gateway/app gateway/sshd gateway/web gateway/ctl common authn policy recorder evidence notify)
set(forbid_gateway/app "\"gateway/sshd/" "\"gateway/web/" "\"gateway/ctl/" ${forbid_libs})
set(forbid_gateway/sshd "\"gateway/web/" "\"gateway/ctl/" ${forbid_httplib} ${forbid_cli11})
set(forbid_gateway/web "\"gateway/sshd/" "\"gateway/ctl/" ${forbid_libssh} ${forbid_cli11})
set(forbid_gateway/ctl "\"gateway/sshd/" "\"gateway/web/" ${forbid_libssh} ${forbid_httplib})
set(forbid_common "\"authn/" "\"policy/" "\"recorder/" ${forbid_gateway} ${forbid_libs})
set(forbid_authn "\"policy/" "\"recorder/" ${forbid_gateway} ${forbid_libs})
set(forbid_policy "\"authn/" "\"recorder/" ${forbid_gateway} ${forbid_libs})
set(forbid_recorder "\"authn/" "\"policy/" ${forbid_gateway} ${forbid_libs})
# evidence: bastion-verify's library: common's base and OpenSSL only.
set(forbid_evidence "\"authn/" "\"policy/" "\"recorder/" ${forbid_gateway} ${forbid_libs} "\"common/database" "\"common/config.h")

set(forbid_notify "\"authn/" "\"policy/" "\"recorder/" "\"evidence/" ${forbid_gateway} ${forbid_libs})
set(forbid_curl "<curl/")
set(forbid_sqlite "<SQLiteCpp/" "<sqlite3.h>")
set(forbid_postgres "<libpq-fe.h>" "<libpq/")
set(forbid_engine_interface "\"common/database_engine.h")
set(forbid_sql "\"common/database_sql.h" "\"recorder/recorder_sql.h" "\"recorder/text_match.h")

set(violations 0)
foreach(dir IN LISTS dirs)
  file(GLOB files "${ROOT}/${dir}/*.h" "${ROOT}/${dir}/*.cpp")
  foreach(f IN LISTS files)
    file(STRINGS "${f}" lines REGEX "^[ \t]*#[ \t]*include")
    set(forbidden ${forbid_${dir}})
    get_filename_component(name "${f}" NAME)
    file(RELATIVE_PATH path "${ROOT}" "${f}")
    if(NOT path STREQUAL "common/database_sqlite.cpp")
      list(APPEND forbidden ${forbid_sqlite})
    endif()
    if(NOT path STREQUAL "notify/transport.cpp")
      list(APPEND forbidden ${forbid_curl})
    endif()
    if(NOT path STREQUAL "common/database_postgres.cpp")
      list(APPEND forbidden ${forbid_postgres})
    endif()
    if(NOT path MATCHES "^common/database(_sqlite|_postgres)?\\.cpp$" AND NOT path STREQUAL "common/database_engine.h")
      list(APPEND forbidden ${forbid_engine_interface})
    endif()
    if(name MATCHES "\\.h$" AND NOT name MATCHES "^(database_sql|recorder_sql)\\.h$")
      list(APPEND forbidden ${forbid_sql})
    elseif(dir MATCHES "^gateway/" AND NOT name MATCHES "_test\\.cpp$")
      list(APPEND forbidden ${forbid_sql})
    endif()
    foreach(line IN LISTS lines)
      foreach(bad IN LISTS forbidden)
        string(FIND "${line}" "${bad}" at)
        if(NOT at EQUAL -1)
          file(RELATIVE_PATH rel "${ROOT}" "${f}")
          message(SEND_ERROR "${rel}: ${line} (${dir}/ may not use ${bad})")
          math(EXPR violations "${violations} + 1")
        endif()
      endforeach()
    endforeach()
  endforeach()
endforeach()
if(violations GREATER 0)
  message(FATAL_ERROR "${violations} include(s) break the module layering of DESIGN.md")
endif()
