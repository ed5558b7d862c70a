// Layer: native addon (the syscalls Node.js lacks). Contract: thin, policy-free
// wrappers; each returns 0 or a positive errno instead of throwing, and the
// single TypeScript loader (src/native/addon.ts) turns errnos into errors.
#include "common.h"
#include <sys/file.h>
#include <errno.h>

namespace {

// flock(fd, LOCK_EX | LOCK_NB): the state-directory lock. Node has no flock;
// an O_EXCL lock file would survive a crash and block the restart.
Napi::Value Flock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "flock(fd)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  int fd = info[0].As<Napi::Number>().Int32Value();
  int rc;
  do {
    rc = flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  return Napi::Number::New(env, rc == 0 ? 0 : errno);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("flock", Napi::Function::New(env, Flock));
  InitPacket(env, exports);
  InitNotify(env, exports);
  InitEthtool(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(edge_overlay, Init)
