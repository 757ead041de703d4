// Batched UDP for Linux: recvmmsg(2) and sendmmsg(2) on a socket this addon owns, polled by libuv.
//
// Node's dgram delivers one datagram per JS callback (a MakeCallback, a microtask checkpoint and a
// Buffer each) and sends one datagram per system call. Here one readable event reads up to SLOTS
// datagrams with one recvmmsg into a preallocated area and calls JS once; JS copies each datagram
// out (udp-native.ts). Sends queued in one loop turn leave with one sendmmsg. What this costs and
// buys: bench/RESULTS.md "Batched UDP".
//
// API (all synchronous, all on the loop thread of the env that opened the socket):
//   open(family, host, port, rcvbuf, sndbuf, onReadable, onWritable, data, meta) -> handle
//       socket + bind; throws Error{code: 'EADDRINUSE'|...}; `data` (Buffer, SLOTS*SLOT_BYTES) and
//       `meta` (Int32Array, SLOTS*META) are where recv() writes
//   port(handle) -> bound port
//   recv(handle) -> n >= 0 datagrams now in data/meta, or -errno
//   send(handle, bufs[], addrs[], ports[], n, errs Int32Array) -> datagrams handled (sent or failed,
//       errs[i] = errno or 0); fewer than n: the socket's send buffer is full (EAGAIN), the caller
//       waits for onWritable (armWritable) and sends the rest
//   armWritable(handle), bufferSizes(handle) -> [rcv, snd], close(handle)
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

namespace {

constexpr int SLOTS = 32;           // datagrams per recvmmsg (libuv's own UDP reader takes 32 per wake-up)
constexpr int SLOT_BYTES = 65536;   // the largest UDP payload fits (RFC 768; IPv4 65,507 bytes)
constexpr int META = 8;             // int32 per datagram: len, port, family, addr[4], flags
constexpr int MAX_SEND = 64;        // datagrams per sendmmsg call

struct Sock {
  napi_env env;
  int fd;
  int family;
  uv_poll_t poll;
  int events;
  bool closing;
  napi_ref on_readable;
  napi_ref on_writable;
  napi_ref data_ref;
  napi_ref meta_ref;
  char* data;
  int32_t* meta;
  napi_async_context async;
  mmsghdr msgs[SLOTS];
  iovec iov[SLOTS];
  sockaddr_storage from[SLOTS];
};

#define CHECK(call)                                      \
  do {                                                   \
    if ((call) != napi_ok) {                             \
      napi_throw_error(env, nullptr, "udp-native: " #call); \
      return nullptr;                                    \
    }                                                    \
  } while (0)

napi_value Throw(napi_env env, int err, const char* what, const char* host, int port) {
  // the message reads like Node's own (`bind EADDRINUSE 127.0.0.1:5060`)
  const char* name = err == EADDRINUSE ? "EADDRINUSE" : err == EADDRNOTAVAIL ? "EADDRNOTAVAIL" : err == EACCES ? "EACCES" : err == EINVAL ? "EINVAL" : err == EAFNOSUPPORT ? "EAFNOSUPPORT" : nullptr;
  char msg[256];
  if (name != nullptr) snprintf(msg, sizeof msg, "%s %s %s:%d", what, name, host, port);
  else snprintf(msg, sizeof msg, "%s %s %s:%d", what, strerror(err), host, port);
  napi_value m, code, e;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_string_utf8(env, name != nullptr ? name : "EUDPNATIVE", NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, m, &e);
  napi_throw(env, e);
  return nullptr;
}

void CallJs(Sock* s, napi_ref ref) {
  napi_env env = s->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value fn, recv, result;
  napi_get_reference_value(env, ref, &fn);
  napi_get_global(env, &recv);  // napi_make_callback wants an object receiver
  // MakeCallback: the microtask queue and process.nextTick run after the batch, as after any I/O callback
  if (napi_make_callback(env, s->async, recv, fn, 0, nullptr, &result) == napi_pending_exception) {
    // a JS exception out of the callback: Node's uncaught exception handling, as for dgram's 'message'
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
}

void UpdatePoll(Sock* s);

void OnPoll(uv_poll_t* h, int status, int events) {
  Sock* s = static_cast<Sock*>(h->data);
  if (s->closing) return;
  if (status < 0) events = UV_READABLE;  // let recv() report the error
  if (events & UV_WRITABLE) {
    s->events &= ~UV_WRITABLE;
    UpdatePoll(s);
    CallJs(s, s->on_writable);
    if (s->closing) return;
  }
  if (events & UV_READABLE) CallJs(s, s->on_readable);
}

void UpdatePoll(Sock* s) { uv_poll_start(&s->poll, s->events, OnPoll); }

Sock* Unwrap(napi_env env, napi_value v) {
  void* p = nullptr;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == nullptr) {
    napi_throw_type_error(env, nullptr, "udp-native: not a socket handle");
    return nullptr;
  }
  Sock* s = static_cast<Sock*>(p);
  if (s->closing) {
    napi_throw_error(env, nullptr, "udp-native: socket closed");
    return nullptr;
  }
  return s;
}

bool ParseAddress(int family, const char* host, int port, sockaddr_storage* ss, socklen_t* len) {
  memset(ss, 0, sizeof *ss);
  if (family == 6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    *len = sizeof *a;
    return inet_pton(AF_INET6, host, &a->sin6_addr) == 1;
  }
  auto* a = reinterpret_cast<sockaddr_in*>(ss);
  a->sin_family = AF_INET;
  a->sin_port = htons(static_cast<uint16_t>(port));
  *len = sizeof *a;
  return inet_pton(AF_INET, host, &a->sin_addr) == 1;
}

napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc < 9) {
    napi_throw_type_error(env, nullptr, "udp-native: open() takes 9 arguments");
    return nullptr;
  }
  int32_t family, port, rcvbuf, sndbuf;
  char host[64];
  size_t hostLen;
  CHECK(napi_get_value_int32(env, argv[0], &family));
  CHECK(napi_get_value_string_utf8(env, argv[1], host, sizeof host, &hostLen));
  CHECK(napi_get_value_int32(env, argv[2], &port));
  CHECK(napi_get_value_int32(env, argv[3], &rcvbuf));
  CHECK(napi_get_value_int32(env, argv[4], &sndbuf));
  void* data;
  size_t dataLen;
  CHECK(napi_get_buffer_info(env, argv[7], &data, &dataLen));
  napi_typedarray_type type;
  size_t metaLen;
  void* meta;
  CHECK(napi_get_typedarray_info(env, argv[8], &type, &metaLen, &meta, nullptr, nullptr));
  if (dataLen < static_cast<size_t>(SLOTS) * SLOT_BYTES || type != napi_int32_array || metaLen < static_cast<size_t>(SLOTS) * META) {
    napi_throw_range_error(env, nullptr, "udp-native: receive areas too small");
    return nullptr;
  }
  sockaddr_storage ss;
  socklen_t sl;
  if (!ParseAddress(family, host, port, &ss, &sl)) return Throw(env, EINVAL, "bind", host, port);
  int fd = socket(family == 6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Throw(env, errno, "socket", host, port);
  int one = 1;
  if (family == 6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (sndbuf > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), sl) != 0) {
    int err = errno;
    close(fd);
    return Throw(env, err, "bind", host, port);
  }
  Sock* s = static_cast<Sock*>(calloc(1, sizeof(Sock)));
  s->env = env;
  s->fd = fd;
  s->family = family;
  s->data = static_cast<char*>(data);
  s->meta = static_cast<int32_t*>(meta);
  for (int i = 0; i < SLOTS; i++) {
    s->iov[i].iov_base = s->data + static_cast<size_t>(i) * SLOT_BYTES;
    s->iov[i].iov_len = SLOT_BYTES;
  }
  napi_create_reference(env, argv[5], 1, &s->on_readable);
  napi_create_reference(env, argv[6], 1, &s->on_writable);
  napi_create_reference(env, argv[7], 1, &s->data_ref);
  napi_create_reference(env, argv[8], 1, &s->meta_ref);
  napi_value resName;
  napi_create_string_utf8(env, "siphon:udp-native", NAPI_AUTO_LENGTH, &resName);
  napi_async_init(env, nullptr, resName, &s->async);
  uv_loop_t* loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &s->poll, fd);
  s->poll.data = s;
  s->events = UV_READABLE;
  UpdatePoll(s);
  napi_value handle;
  CHECK(napi_create_external(env, s, nullptr, nullptr, &handle));
  return handle;
}

napi_value Port(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Sock* s = Unwrap(env, argv[0]);
  if (s == nullptr) return nullptr;
  sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  getsockname(s->fd, reinterpret_cast<sockaddr*>(&ss), &sl);
  int port = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port) : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  napi_value v;
  napi_create_int32(env, port, &v);
  return v;
}

napi_value Recv(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Sock* s = Unwrap(env, argv[0]);
  if (s == nullptr) return nullptr;
  for (int i = 0; i < SLOTS; i++) {
    mmsghdr& m = s->msgs[i];
    memset(&m.msg_hdr, 0, sizeof m.msg_hdr);
    m.msg_hdr.msg_iov = &s->iov[i];
    m.msg_hdr.msg_iovlen = 1;
    m.msg_hdr.msg_name = &s->from[i];
    m.msg_hdr.msg_namelen = sizeof s->from[i];
  }
  int n;
  do {
    n = recvmmsg(s->fd, s->msgs, SLOTS, MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n < 0) n = (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
  for (int i = 0; i < n; i++) {
    int32_t* m = s->meta + i * META;
    m[0] = static_cast<int32_t>(s->msgs[i].msg_len);
    m[7] = (s->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? 1 : 0;
    if (s->from[i].ss_family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&s->from[i]);
      m[1] = ntohs(a->sin6_port);
      m[2] = 6;
      memcpy(&m[3], &a->sin6_addr, 16);
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&s->from[i]);
      m[1] = ntohs(a->sin_port);
      m[2] = 4;
      memcpy(&m[3], &a->sin_addr, 4);  // network byte order, as the kernel keeps it
    }
  }
  napi_value v;
  napi_create_int32(env, n, &v);
  return v;
}

napi_value Send(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Sock* s = Unwrap(env, argv[0]);
  if (s == nullptr) return nullptr;
  int32_t n;
  CHECK(napi_get_value_int32(env, argv[4], &n));
  napi_typedarray_type type;
  size_t errsLen;
  void* errsData;
  CHECK(napi_get_typedarray_info(env, argv[5], &type, &errsLen, &errsData, nullptr, nullptr));
  if (type != napi_int32_array || errsLen < static_cast<size_t>(n)) {
    napi_throw_range_error(env, nullptr, "udp-native: errs too small");
    return nullptr;
  }
  int32_t* errs = static_cast<int32_t*>(errsData);
  mmsghdr msgs[MAX_SEND];
  iovec iov[MAX_SEND];
  sockaddr_storage to[MAX_SEND];
  int done = 0;
  while (done < n) {
    int batch = 0;
    int base = done;
    // fill up to MAX_SEND; an unparsable address fails its datagram here (errs = EINVAL)
    while (base + batch < n && batch < MAX_SEND) {
      int i = base + batch;
      napi_value buf, addr, port;
      napi_get_element(env, argv[1], i, &buf);
      napi_get_element(env, argv[2], i, &addr);
      napi_get_element(env, argv[3], i, &port);
      void* bytes;
      size_t len;
      char host[64];
      size_t hostLen;
      int32_t p;
      socklen_t sl;
      if (napi_get_buffer_info(env, buf, &bytes, &len) != napi_ok || napi_get_value_string_utf8(env, addr, host, sizeof host, &hostLen) != napi_ok ||
          napi_get_value_int32(env, port, &p) != napi_ok || p <= 0 || p > 65535 || !ParseAddress(s->family, host, p, &to[batch], &sl)) {
        if (batch > 0) break;  // send what is filled first, then fail this one alone
        errs[i] = EINVAL;
        base++;
        done++;
        continue;
      }
      memset(&msgs[batch].msg_hdr, 0, sizeof msgs[batch].msg_hdr);
      iov[batch].iov_base = bytes;
      iov[batch].iov_len = len;
      msgs[batch].msg_hdr.msg_iov = &iov[batch];
      msgs[batch].msg_hdr.msg_iovlen = 1;
      msgs[batch].msg_hdr.msg_name = &to[batch];
      msgs[batch].msg_hdr.msg_namelen = sl;
      batch++;
    }
    if (batch == 0) continue;
    int sent;
    do {
      sent = sendmmsg(s->fd, msgs, batch, MSG_DONTWAIT);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;  // the caller waits for writable
      errs[base] = errno;  // the first datagram failed: count it, go on with the next
      done = base + 1;
      continue;
    }
    for (int k = 0; k < sent; k++) errs[base + k] = 0;
    done = base + sent;
  }
  napi_value v;
  napi_create_int32(env, done, &v);
  return v;
}

napi_value ArmWritable(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Sock* s = Unwrap(env, argv[0]);
  if (s == nullptr) return nullptr;
  s->events |= UV_WRITABLE;
  UpdatePoll(s);
  return nullptr;
}

napi_value BufferSizes(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  Sock* s = Unwrap(env, argv[0]);
  if (s == nullptr) return nullptr;
  int rcv = 0, snd = 0;
  socklen_t l = sizeof rcv;
  getsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &rcv, &l);
  l = sizeof snd;
  getsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &snd, &l);
  napi_value arr, a, b;
  napi_create_array_with_length(env, 2, &arr);
  napi_create_int32(env, rcv, &a);
  napi_create_int32(env, snd, &b);
  napi_set_element(env, arr, 0, a);
  napi_set_element(env, arr, 1, b);
  return arr;
}

void OnClosed(uv_handle_t* h) {
  Sock* s = static_cast<Sock*>(h->data);
  close(s->fd);
  free(s);
}

napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  void* p = nullptr;
  if (napi_get_value_external(env, argv[0], &p) != napi_ok || p == nullptr) return nullptr;
  Sock* s = static_cast<Sock*>(p);
  if (s->closing) return nullptr;
  s->closing = true;
  uv_poll_stop(&s->poll);
  napi_delete_reference(env, s->on_readable);
  napi_delete_reference(env, s->on_writable);
  napi_delete_reference(env, s->data_ref);
  napi_delete_reference(env, s->meta_ref);
  napi_async_destroy(env, s->async);
  // the external keeps pointing at s until the handle is collected; closing marks it unusable first
  uv_close(reinterpret_cast<uv_handle_t*>(&s->poll), OnClosed);
  return nullptr;
}

napi_value Init(napi_env env, napi_value exports) {
  struct {
    const char* name;
    napi_callback fn;
  } fns[] = {{"open", Open}, {"port", Port}, {"recv", Recv}, {"send", Send}, {"armWritable", ArmWritable}, {"bufferSizes", BufferSizes}, {"close", Close}};
  for (auto& f : fns) {
    napi_value v;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.fn, nullptr, &v);
    napi_set_named_property(env, exports, f.name, v);
  }
  napi_value slots, slotBytes, meta;
  napi_create_int32(env, SLOTS, &slots);
  napi_create_int32(env, SLOT_BYTES, &slotBytes);
  napi_create_int32(env, META, &meta);
  napi_set_named_property(env, exports, "SLOTS", slots);
  napi_set_named_property(env, exports, "SLOT_BYTES", slotBytes);
  napi_set_named_property(env, exports, "META", meta);
  return exports;
}

}  // namespace

NAPI_MODULE_INIT() { return Init(env, exports); }
