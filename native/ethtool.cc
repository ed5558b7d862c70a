// Layer: native addon — the ethtool ioctls `edge-overlay doctor` needs, so no
// ethtool binary is required: the driver name (ETHTOOL_GDRVINFO), the
// offload features with their state (ETHTOOL_GSSET_INFO/GSTRINGS/GFEATURES),
// and switching features by name (ETHTOOL_SFEATURES). Errors are returned as
// positive errnos (a number in place of the result).
#include "common.h"
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <errno.h>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Sock {
  int fd;
  Sock() : fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {}
  ~Sock() { if (fd >= 0) close(fd); }
};

int Ioctl(int fd, const std::string& ifname, void* data) {
  ifreq ifr{};
  strncpy(ifr.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  ifr.ifr_data = static_cast<char*>(data);
  return ioctl(fd, SIOCETHTOOL, &ifr) < 0 ? errno : 0;
}

bool Name(const Napi::CallbackInfo& info, std::string* out) {
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(info.Env(), "interface name expected").ThrowAsJavaScriptException();
    return false;
  }
  *out = info[0].As<Napi::String>().Utf8Value();
  return true;
}

Napi::Value Driver(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ifname;
  if (!Name(info, &ifname)) return env.Undefined();
  Sock s;
  if (s.fd < 0) return Napi::Number::New(env, errno);
  ethtool_drvinfo d{};
  d.cmd = ETHTOOL_GDRVINFO;
  if (int err = Ioctl(s.fd, ifname, &d)) return Napi::Number::New(env, err);
  return Napi::String::New(env, d.driver);
}

// Reads names and state of all features; fills names and the raw blocks.
int ReadFeatures(int fd, const std::string& ifname, std::vector<std::string>* names, std::vector<ethtool_get_features_block>* blocks) {
  // ethtool_sset_info ends in a flexible array: one __u32 follows for one set
  alignas(ethtool_sset_info) char sbufInfo[sizeof(ethtool_sset_info) + sizeof(__u32)] = {};
  auto* sset = reinterpret_cast<ethtool_sset_info*>(sbufInfo);
  sset->cmd = ETHTOOL_GSSET_INFO;
  sset->sset_mask = 1ULL << ETH_SS_FEATURES;
  if (int err = Ioctl(fd, ifname, sset)) return err;
  __u32 n = sset->sset_mask ? sset->data[0] : 0;
  std::vector<char> sbuf(sizeof(ethtool_gstrings) + static_cast<size_t>(n) * ETH_GSTRING_LEN);
  auto* strings = reinterpret_cast<ethtool_gstrings*>(sbuf.data());
  strings->cmd = ETHTOOL_GSTRINGS;
  strings->string_set = ETH_SS_FEATURES;
  strings->len = n;
  if (int err = Ioctl(fd, ifname, strings)) return err;
  __u32 nblocks = (n + 31) / 32;
  std::vector<char> fbuf(sizeof(ethtool_gfeatures) + nblocks * sizeof(ethtool_get_features_block));
  auto* feats = reinterpret_cast<ethtool_gfeatures*>(fbuf.data());
  feats->cmd = ETHTOOL_GFEATURES;
  feats->size = nblocks;
  if (int err = Ioctl(fd, ifname, feats)) return err;
  names->clear();
  for (__u32 i = 0; i < n; i++) {
    const char* p = reinterpret_cast<const char*>(strings->data) + static_cast<size_t>(i) * ETH_GSTRING_LEN;
    names->emplace_back(p, strnlen(p, ETH_GSTRING_LEN));
  }
  blocks->assign(feats->features, feats->features + nblocks);
  return 0;
}

Napi::Value Features(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ifname;
  if (!Name(info, &ifname)) return env.Undefined();
  Sock s;
  if (s.fd < 0) return Napi::Number::New(env, errno);
  std::vector<std::string> names;
  std::vector<ethtool_get_features_block> blocks;
  if (int err = ReadFeatures(s.fd, ifname, &names, &blocks)) return Napi::Number::New(env, err);
  Napi::Array out = Napi::Array::New(env, names.size());
  for (size_t i = 0; i < names.size(); i++) {
    const auto& b = blocks[i / 32];
    __u32 bit = 1u << (i % 32);
    Napi::Object f = Napi::Object::New(env);
    f.Set("name", names[i]);
    f.Set("available", (b.available & bit) != 0);
    f.Set("requested", (b.requested & bit) != 0);
    f.Set("active", (b.active & bit) != 0);
    f.Set("fixed", (b.never_changed & bit) != 0);
    out.Set(static_cast<uint32_t>(i), f);
  }
  return out;
}

// setFeatures(ifname, [names], on) -> 0 or errno (ENOENT: a name is unknown)
Napi::Value SetFeatures(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ifname;
  if (!Name(info, &ifname)) return env.Undefined();
  if (info.Length() < 3 || !info[1].IsArray() || !info[2].IsBoolean()) {
    Napi::TypeError::New(env, "setFeatures(ifname, names, on)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Sock s;
  if (s.fd < 0) return Napi::Number::New(env, errno);
  std::vector<std::string> names;
  std::vector<ethtool_get_features_block> blocks;
  if (int err = ReadFeatures(s.fd, ifname, &names, &blocks)) return Napi::Number::New(env, err);
  std::vector<char> buf(sizeof(ethtool_sfeatures) + blocks.size() * sizeof(ethtool_set_features_block));
  auto* sf = reinterpret_cast<ethtool_sfeatures*>(buf.data());
  sf->cmd = ETHTOOL_SFEATURES;
  sf->size = static_cast<__u32>(blocks.size());
  bool on = info[2].As<Napi::Boolean>().Value();
  Napi::Array want = info[1].As<Napi::Array>();
  for (uint32_t j = 0; j < want.Length(); j++) {
    std::string n = Napi::Value(want[j]).ToString().Utf8Value();
    size_t i = 0;
    while (i < names.size() && names[i] != n) i++;
    if (i == names.size()) return Napi::Number::New(env, ENOENT);
    __u32 bit = 1u << (i % 32);
    sf->features[i / 32].valid |= bit;
    if (on) sf->features[i / 32].requested |= bit;
  }
  int err = Ioctl(s.fd, ifname, sf);
  return Napi::Number::New(env, err);
}

}  // namespace

void InitEthtool(Napi::Env env, Napi::Object exports) {
  exports.Set("ethtoolDriver", Napi::Function::New(env, Driver));
  exports.Set("ethtoolFeatures", Napi::Function::New(env, Features));
  exports.Set("ethtoolSetFeatures", Napi::Function::New(env, SetFeatures));
}
