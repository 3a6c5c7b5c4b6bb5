# adam_embed(<target> <symbol> FILES <file>... [NAMES <name>...]): compiles
# files into a static table `adam::embedded::<symbol>` of {name, bytes} so
# adamd serves its web assets and templates without reading anything from
# disk at run time. An entry is named by NAMES at the same position, else by
# its file name.
function(adam_embed target symbol)
  cmake_parse_arguments(PARSE_ARGV 2 arg "" "" "FILES;NAMES")
  if(NOT arg_NAMES)
    foreach(f ${arg_FILES})
      get_filename_component(name ${f} NAME)
      list(APPEND arg_NAMES ${name})
    endforeach()
  endif()
  set(out ${CMAKE_BINARY_DIR}/embed/${symbol}.cpp)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DSYMBOL=${symbol} "-DFILES=${arg_FILES}" "-DNAMES=${arg_NAMES}"
            -P ${CMAKE_SOURCE_DIR}/cmake/EmbedGenerate.cmake
    DEPENDS ${arg_FILES} ${CMAKE_SOURCE_DIR}/cmake/EmbedGenerate.cmake
    COMMENT "Embedding ${symbol}"
    VERBATIM)
  target_sources(${target} PRIVATE ${out})
endfunction()
