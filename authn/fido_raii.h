// One RAII owner per libfido2 / OpenSSL X.509 / libcbor handle used by authn/
// (private to the module).
#pragma once

#include <cbor.h>
#include <fido.h>
#include <fido/eddsa.h>
#include <fido/es256.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <memory>

namespace bastion::authn {

struct FidoCredFree {
  void operator()(fido_cred_t* p) const { fido_cred_free(&p); }
};
struct FidoAssertFree {
  void operator()(fido_assert_t* p) const { fido_assert_free(&p); }
};
struct Es256PkFree {
  void operator()(es256_pk_t* p) const { es256_pk_free(&p); }
};
struct EddsaPkFree {
  void operator()(eddsa_pk_t* p) const { eddsa_pk_free(&p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct X509StoreFree {
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
};
struct X509StoreCtxFree {
  void operator()(X509_STORE_CTX* p) const { X509_STORE_CTX_free(p); }
};
struct X509StackFree {
  void operator()(STACK_OF(X509) * p) const { sk_X509_pop_free(p, X509_free); }
};
struct CborFree {
  void operator()(cbor_item_t* p) const { cbor_decref(&p); }
};

using FidoCred = std::unique_ptr<fido_cred_t, FidoCredFree>;
using FidoAssert = std::unique_ptr<fido_assert_t, FidoAssertFree>;
using Es256Pk = std::unique_ptr<es256_pk_t, Es256PkFree>;
using EddsaPk = std::unique_ptr<eddsa_pk_t, EddsaPkFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using X509Store = std::unique_ptr<X509_STORE, X509StoreFree>;
using X509StoreCtx = std::unique_ptr<X509_STORE_CTX, X509StoreCtxFree>;
using X509Stack = std::unique_ptr<STACK_OF(X509), X509StackFree>;
using CborItem = std::unique_ptr<cbor_item_t, CborFree>;

}  // namespace bastion::authn
