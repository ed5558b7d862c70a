{
  "targets": [
    {
      "target_name": "edge_overlay",
      "sources": ["native/addon.cc", "native/packet.cc", "native/notify.cc", "native/ethtool.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra"]
    }
  ]
}
