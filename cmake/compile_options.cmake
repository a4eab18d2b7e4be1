# Compiler settings shared by every target, applied through the interface target
# tracker::compile_options so that third-party headers are not affected.
add_library(tracker_compile_options INTERFACE)
add_library(tracker::compile_options ALIAS tracker_compile_options)

# -Wnull-dereference is left out: with GCC 12 it reports false positives from inlined
# libstdc++ and Asio code, which -Werror would turn into failures.
target_compile_options(tracker_compile_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Wunused -Woverloaded-virtual -Wconversion -Wsign-conversion
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
# GCC 12 false positives, both off on purpose:
# - missing-field-initializers fires on designated initializers ({.brokers = b}) even though
#   every omitted member has a default member initializer, which is how options structs work here;
# - mismatched-new-delete fires on Asio's awaitable frames (custom operator new/delete pairs);
#   AddressSanitizer's alloc-dealloc-mismatch check covers real mismatches in the ASan build.
target_compile_options(tracker_compile_options INTERFACE
  -Wno-missing-field-initializers -Wno-mismatched-new-delete)
if(TRACKER_WERROR)
  target_compile_options(tracker_compile_options INTERFACE -Werror)
endif()
target_compile_definitions(tracker_compile_options INTERFACE
  BOOST_ASIO_NO_DEPRECATED BOOST_ASIO_DISABLE_BOOST_COROUTINE)
# UBSan's null and alignment checks are left out: a null dereference already stops the process
# with AddressSanitizer's SEGV report and stack, x86-64 tolerates misaligned access
# (-Wcast-align guards the casts), and the two checks on every pointer use nearly double the
# compile time of the coroutine-heavy files (libs/http/src/client.cpp: 57 s with, 36 s without).
if(TRACKER_SANITIZE)
  target_compile_options(tracker_compile_options INTERFACE
    -fsanitize=address,undefined -fno-sanitize=null,alignment -fno-omit-frame-pointer
    -fno-sanitize-recover=undefined)
  target_link_options(tracker_compile_options INTERFACE -fsanitize=address,undefined)
endif()

# tracker_add_library(name SOURCES ... DEPS ...): one library, one job, alias tracker::name,
# headers under include/tracker/<name>/.
function(tracker_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(tracker_${name} ${ARG_SOURCES})
  add_library(tracker::${name} ALIAS tracker_${name})
  target_include_directories(tracker_${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(tracker_${name} PUBLIC ${ARG_DEPS} PRIVATE tracker::compile_options)
endfunction()
