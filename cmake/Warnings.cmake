set(BASTION_SOURCE_ROOT ${CMAKE_CURRENT_LIST_DIR}/..)
# bastion_warnings: an INTERFACE target every bastion target links PRIVATE.
add_library(bastion_warnings INTERFACE)
target_compile_options(bastion_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Wunused -Woverloaded-virtual -Wformat=2 -Wimplicit-fallthrough)
if(BASTION_WERROR)
  target_compile_options(bastion_warnings INTERFACE -Werror)
endif()
target_compile_definitions(bastion_warnings INTERFACE _FORTIFY_SOURCE=2)
target_include_directories(bastion_warnings INTERFACE ${CMAKE_CURRENT_LIST_DIR}/..)

if(BASTION_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  # -O1 and line tables only (they come after the build type's -O2 -g, so they
  # win): what the sanitizers' own docs recommend, and it builds 2.4 times as
  # fast as -O2 -g (ctl_hr.cpp: 37 s instead of 90 s), while reports still name
  # file and line.
  add_compile_options(-O1 -g1)
  add_link_options(-fsanitize=address,undefined)
endif()

# bastion_add_test(NAME SOURCES... LIBS ... [POSTGRES FILTER]): one GoogleTest
# binary per module. The tests FILTER selects (GoogleTest's --gtest_filter
# syntax: the ones that use a database) run a second time against
# PostgreSQL, as "postgres/Suite.Test", on the server that the postgres
# fixture (top-level CMakeLists.txt) starts; tests/support/test_database.h.
function(bastion_add_test name)
  cmake_parse_arguments(T "" "POSTGRES" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} bastion_test_database GTest::gtest GTest::gtest_main bastion_warnings)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 30 PROPERTIES TIMEOUT 120)
  if(T_POSTGRES)
    gtest_discover_tests(${name} TEST_FILTER "${T_POSTGRES}" TEST_PREFIX "postgres/" DISCOVERY_TIMEOUT 30
                         PROPERTIES TIMEOUT 120 FIXTURES_REQUIRED postgres
                         ENVIRONMENT "BASTION_TEST_POSTGRES=${BASTION_POSTGRES_URL_FILE}")
  endif()
endfunction()

# bastion_module(NAME PUBLIC_DEPS ... PRIVATE_DEPS ... [EXCLUDE FILES] [POSTGRES_TESTS FILTER]): one static library per
# folder from its *.cpp files (tests *_test.cpp, mains *_main.cpp and EXCLUDE excluded),
# plus one GoogleTest binary NAME_test from its *_test.cpp files.
function(bastion_module name)
  cmake_parse_arguments(M "" "POSTGRES_TESTS" "PUBLIC_DEPS;PRIVATE_DEPS;TEST_DEPS;EXCLUDE" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  foreach(x IN LISTS M_EXCLUDE)
    list(REMOVE_ITEM srcs ${CMAKE_CURRENT_SOURCE_DIR}/${x})
  endforeach()
  file(GLOB tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cpp)
  file(GLOB mains CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_main.cpp)
  if(tests)
    list(REMOVE_ITEM srcs ${tests})
  endif()
  if(mains)
    list(REMOVE_ITEM srcs ${mains})
  endif()
  add_library(bastion_${name} STATIC ${srcs})
  target_link_libraries(bastion_${name} PUBLIC ${M_PUBLIC_DEPS} PRIVATE ${M_PRIVATE_DEPS} bastion_warnings)
  target_include_directories(bastion_${name} PUBLIC ${BASTION_SOURCE_ROOT})
  if(BASTION_BUILD_TESTS AND tests)
    bastion_add_test(${name}_test SOURCES ${tests} LIBS bastion_${name} ${M_PRIVATE_DEPS} ${M_TEST_DEPS}
                     POSTGRES "${M_POSTGRES_TESTS}")
  endif()
endfunction()
