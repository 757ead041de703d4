{
  "targets": [
    {
      "target_name": "watchdog",
      "sources": ["watchdog.cc"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wno-cast-function-type"]
    }
  ]
}
