// CHandle<T, Free>: the one way to own a C library's handle. Every RAII alias
// in the project (OpenSSL, libssh, libfido2, libcbor) is a CHandle, so
// ownership reads the same everywhere and no module writes its own deleter.
//
//   using Pkey = CHandle<EVP_PKEY, EVP_PKEY_free>;
//   using FidoCred = CHandle<fido_cred_t, fido_cred_free>;  // frees through T**
//
// `Free` takes the handle (`void f(T*)`), or else its address (`void f(T**)`,
// the libfido2/libcbor style, which also nulls it); the deleter calls
// whichever it is, preferring the handle (a `void f(void*)` gets the
// handle). Freeing that needs more arguments (a stack of certificates) goes
// through a named one-argument function next to the alias.
// Thread-safety: as std::unique_ptr.
#pragma once

#include <memory>
#include <type_traits>

namespace bastion {

template <auto Free>
struct CFree {
  template <class T>
  void operator()(T* p) const {
    if constexpr (std::is_invocable_v<decltype(Free), T*>) {
      Free(p);
    } else {
      Free(&p);
    }
  }
};

template <class T, auto Free>
using CHandle = std::unique_ptr<T, CFree<Free>>;

}  // namespace bastion
