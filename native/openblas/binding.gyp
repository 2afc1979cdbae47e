{
  "targets": [
    {
      "target_name": "mixdistill_blas",
      "sources": ["gemm.c"],
      "cflags": ["-O2", "<!@(pkg-config --cflags openblas)"],
      "libraries": ["<!@(pkg-config --libs openblas)"]
    }
  ]
}
