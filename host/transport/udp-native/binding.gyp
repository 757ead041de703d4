{
  "targets": [
    {
      "target_name": "udp_batch",
      "sources": ["udp_batch.cc"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall"]
    }
  ]
}
