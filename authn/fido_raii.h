// One RAII owner per libfido2 / libcbor handle used by authn/ (private to the
// module).
#pragma once

#include <cbor.h>
#include <fido.h>
#include <fido/eddsa.h>
#include <fido/es256.h>

#include "common/c_handle.h"
#include "common/openssl_handles.h"

namespace bastion::authn {

// libfido2 and libcbor free through the handle's address (and null it); CFree
// calls them so. The X.509 handles are common/openssl_handles.h's.
using FidoCred = CHandle<fido_cred_t, fido_cred_free>;
using FidoAssert = CHandle<fido_assert_t, fido_assert_free>;
using Es256Pk = CHandle<es256_pk_t, es256_pk_free>;
using EddsaPk = CHandle<eddsa_pk_t, eddsa_pk_free>;
using CborItem = CHandle<cbor_item_t, cbor_decref>;

}  // namespace bastion::authn
