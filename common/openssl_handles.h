// One RAII owner per OpenSSL handle type, for every module (CHandle, see
// common/c_handle.h). OpenSSL wipes private key material when it frees an
// EVP_PKEY.
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "common/c_handle.h"

namespace bastion {

// sk_X509_pop_free is a macro over two arguments: the stack and its certificates go together.
inline void free_x509_stack(STACK_OF(X509) * s) { sk_X509_pop_free(s, X509_free); }

using Pkey = CHandle<EVP_PKEY, EVP_PKEY_free>;
using PkeyCtx = CHandle<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using MdCtx = CHandle<EVP_MD_CTX, EVP_MD_CTX_free>;
// A digest context ready for SHA-256 updates (OpenSSL uses the CPU's SHA extensions where present).
inline MdCtx new_sha256() {
  MdCtx md(EVP_MD_CTX_new());
  if (md) EVP_DigestInit_ex(md.get(), EVP_sha256(), nullptr);
  return md;
}
using CipherCtx = CHandle<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;
using Bio = CHandle<BIO, BIO_free_all>;
using Bignum = CHandle<BIGNUM, BN_clear_free>;
// TLS handles: a module that uses these links OpenSSL::SSL.
using SslCtx = CHandle<SSL_CTX, SSL_CTX_free>;
using Ssl = CHandle<SSL, SSL_free>;
using EcGroup = CHandle<EC_GROUP, EC_GROUP_free>;
using EcPoint = CHandle<EC_POINT, EC_POINT_free>;
// X.509 certificates, chains and their parts.
using X509Ptr = CHandle<X509, X509_free>;
using X509Store = CHandle<X509_STORE, X509_STORE_free>;
using X509StoreCtx = CHandle<X509_STORE_CTX, X509_STORE_CTX_free>;
using X509Stack = CHandle<STACK_OF(X509), free_x509_stack>;
using X509Extension = CHandle<X509_EXTENSION, X509_EXTENSION_free>;
using Asn1Object = CHandle<ASN1_OBJECT, ASN1_OBJECT_free>;
using Asn1OctetString = CHandle<ASN1_OCTET_STRING, ASN1_OCTET_STRING_free>;

}  // namespace bastion
