if(MISSREC_USE_CCACHE)
  find_program(MISSREC_CCACHE ccache)
  if(MISSREC_CCACHE)
    # Precompiled headers need these sloppiness settings or ccache never hits.
    set(CMAKE_CXX_COMPILER_LAUNCHER
        ${CMAKE_COMMAND} -E env
        "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
        ${MISSREC_CCACHE})
    set(CMAKE_C_COMPILER_LAUNCHER ${CMAKE_CXX_COMPILER_LAUNCHER})
    message(STATUS "ccache: ${MISSREC_CCACHE}")
  endif()
endif()
