# Configures, builds and runs tests/consumer against an installed rlhf (cmake -P script).
file(REMOVE_RECURSE "${BINARY}")
execute_process(COMMAND ${CMAKE_COMMAND} -S "${SOURCE}" -B "${BINARY}" -G "${GENERATOR}"
                        "-DCMAKE_PREFIX_PATH=${PREFIX}" -DCMAKE_BUILD_TYPE=Release
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "consumer: configure failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build "${BINARY}" RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "consumer: build failed (${rc})")
endif()
execute_process(COMMAND "${BINARY}/consumer" RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "consumer: run failed (${rc})")
endif()
