# Builds one compile-fail target and passes only when the build FAILS for the stated reason:
# the compiler output must match the file's "// EXPECT: <regex>" line.
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${TARGET}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "${TARGET} compiled, but it must not")
endif()
if(NOT "${out}${err}" MATCHES "${EXPECT}")
  message(FATAL_ERROR "${TARGET} failed to compile, but not for the expected reason (/${EXPECT}/):\n${out}${err}")
endif()
message(STATUS "${TARGET}: fails to compile as expected (/${EXPECT}/)")
