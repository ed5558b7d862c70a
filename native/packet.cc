// Layer: native addon — raw L2 (AF_PACKET) sockets for discovery frames.
// Contract: PacketSocket(ifindex, ethertype, onFrame) opens a cooked
// (SOCK_DGRAM) packet socket bound to one interface and one EtherType, so
// the kernel builds and strips the Ethernet header. send(buf) broadcasts one
// frame (ff:ff:ff:ff:ff:ff); frames received (not our own outgoing ones)
// reach onFrame(buf, srcMac) from the event loop via uv_poll. Errors are
// returned as positive errnos (send) or reported as onFrame(null, errno);
// after a reported error the socket receives nothing more: close it.
// pause()/resume() stop and restart reading (a flood waits, and is dropped,
// in the kernel). setFilter(buf) attaches a classic BPF program (struct
// sock_filter[] as bytes; empty: none) that the kernel runs before queueing a
// frame; it returns 0 or a positive errno.
// No policy here: framing, authentication and dedup live in TypeScript.
#include "common.h"
#include <uv.h>
#include <sys/socket.h>
#include <linux/if_packet.h>
#include <linux/filter.h>
#include <net/ethernet.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <errno.h>
#include <cstring>
#include <cstdio>

namespace {

/** the socket's receive buffer: a few thousand discovery frames (as UDP's: src/discovery/udp.ts) */
constexpr int kReceiveBuffer = 4 << 20;

class PacketSocket : public Napi::ObjectWrap<PacketSocket> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "PacketSocket", {
      InstanceMethod<&PacketSocket::Send>("send"),
      InstanceMethod<&PacketSocket::Close>("close"),
      InstanceMethod<&PacketSocket::Pause>("pause"),
      InstanceMethod<&PacketSocket::SetFilter>("setFilter"),
      InstanceMethod<&PacketSocket::Resume>("resume"),
    });
    exports.Set("PacketSocket", f);
  }

  PacketSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PacketSocket>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsFunction()) {
      Napi::TypeError::New(env, "PacketSocket(ifindex, ethertype, onFrame)").ThrowAsJavaScriptException();
      return;
    }
    ifindex_ = info[0].As<Napi::Number>().Int32Value();
    ethertype_ = static_cast<uint16_t>(info[1].As<Napi::Number>().Uint32Value());
    callback_ = Napi::Persistent(info[2].As<Napi::Function>());
    fd_ = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ethertype_));
    if (fd_ < 0) { Fail(env, errno, "socket"); return; }
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ethertype_);
    sll.sll_ifindex = ifindex_;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) != 0) { Fail(env, errno, "bind"); return; }
    // room for a site's first contact at once (past rmem_max with CAP_NET_ADMIN); a smaller buffer still works
    int rcvbuf = kReceiveBuffer;
    if (setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) != 0) {
      setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    }
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    poll_ = new uv_poll_t;
    poll_->data = this;
    if (uv_poll_init(loop, poll_, fd_) != 0) {
      delete poll_;
      poll_ = nullptr;
      Fail(env, EIO, "uv_poll_init");
      return;
    }
    uv_poll_start(poll_, UV_READABLE, OnReadable);
    Ref();  // stay alive while the socket is open
  }

  ~PacketSocket() override { Shutdown(); }

 private:
  void Fail(Napi::Env env, int err, const char* what) {
    char msg[128];
    snprintf(msg, sizeof(msg), "%s: %s", what, strerror(err));
    Napi::Error e = Napi::Error::New(env, msg);
    e.Set("errno", Napi::Number::New(env, err));
    e.ThrowAsJavaScriptException();
    if (fd_ >= 0) { close(fd_); fd_ = -1; }
  }

  void Shutdown() {
    if (poll_) {
      uv_poll_stop(poll_);
      uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
      poll_ = nullptr;
    }
    if (fd_ >= 0) { close(fd_); fd_ = -1; }
  }

  static void OnReadable(uv_poll_t* handle, int status, int /*events*/) {
    auto* self = static_cast<PacketSocket*>(handle->data);
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    if (status < 0) {
      // libuv stops the handle on POLLERR and says EBADF; the socket knows why (ENETDOWN, ENXIO...)
      int err = 0;
      socklen_t len = sizeof(err);
      if (self->fd_ < 0 || getsockopt(self->fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err == 0) err = -status;
      self->Emit(env, env.Null(), Napi::Number::New(env, err));
      return;
    }
    unsigned char buf[2048];
    for (int i = 0; i < 64 && self->fd_ >= 0; i++) {
      sockaddr_ll from{};
      socklen_t fromlen = sizeof(from);
      ssize_t n = recvfrom(self->fd_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &fromlen);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) self->Emit(env, env.Null(), Napi::Number::New(env, errno));
        return;
      }
      if (from.sll_pkttype == PACKET_OUTGOING) continue;  // our own frame
      char mac[18] = "";
      if (from.sll_halen == 6) {
        snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", from.sll_addr[0], from.sll_addr[1],
                 from.sll_addr[2], from.sll_addr[3], from.sll_addr[4], from.sll_addr[5]);
      }
      self->Emit(env, Napi::Buffer<unsigned char>::Copy(env, buf, static_cast<size_t>(n)), Napi::String::New(env, mac));
    }
  }

  void Emit(Napi::Env env, Napi::Value a, Napi::Value b) {
    callback_.Call(Value(), {a, b});
    if (env.IsExceptionPending()) {
      // surface a throwing JS callback as an uncaught exception, as Node does
      napi_value e;
      napi_get_and_clear_last_exception(env, &e);
      napi_fatal_exception(env, e);
    }
  }

  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) return Napi::Number::New(env, EBADF);
    if (info.Length() < 1 || !info[0].IsBuffer()) {
      Napi::TypeError::New(env, "send(buffer)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    auto data = info[0].As<Napi::Buffer<unsigned char>>();
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_protocol = htons(ethertype_);
    to.sll_ifindex = ifindex_;
    to.sll_halen = 6;
    memset(to.sll_addr, 0xff, 6);
    ssize_t n;
    do {
      n = sendto(fd_, data.Data(), data.Length(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
    } while (n < 0 && errno == EINTR);
    return Napi::Number::New(env, n < 0 ? errno : 0);
  }

  Napi::Value SetFilter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) return Napi::Number::New(env, EBADF);
    if (info.Length() < 1 || !info[0].IsBuffer()) {
      Napi::TypeError::New(env, "setFilter(buffer)").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    auto code = info[0].As<Napi::Buffer<unsigned char>>();
    if (code.Length() == 0) {
      int none = 0;
      int r = setsockopt(fd_, SOL_SOCKET, SO_DETACH_FILTER, &none, sizeof(none));
      return Napi::Number::New(env, r != 0 && errno != ENOENT ? errno : 0);
    }
    if (code.Length() % sizeof(sock_filter) != 0 || code.Length() / sizeof(sock_filter) > BPF_MAXINSNS) {
      return Napi::Number::New(env, EINVAL);
    }
    sock_fprog prog{};
    prog.len = static_cast<unsigned short>(code.Length() / sizeof(sock_filter));
    prog.filter = reinterpret_cast<sock_filter*>(code.Data());
    int r = setsockopt(fd_, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
    return Napi::Number::New(env, r != 0 ? errno : 0);
  }

  // Stop / start reading: frames wait in the kernel (which drops what no longer fits).
  Napi::Value Pause(const Napi::CallbackInfo& info) {
    if (poll_) uv_poll_stop(poll_);
    return info.Env().Undefined();
  }

  Napi::Value Resume(const Napi::CallbackInfo& info) {
    if (poll_ && fd_ >= 0) uv_poll_start(poll_, UV_READABLE, OnReadable);
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    bool wasOpen = fd_ >= 0;
    Shutdown();
    if (wasOpen) Unref();
    return info.Env().Undefined();
  }

  int fd_ = -1;
  int ifindex_ = 0;
  uint16_t ethertype_ = 0;
  uv_poll_t* poll_ = nullptr;
  Napi::FunctionReference callback_;
};

}  // namespace

void InitPacket(Napi::Env env, Napi::Object exports) { PacketSocket::Init(env, exports); }
