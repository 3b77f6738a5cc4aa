// QuantScheme helpers. Being written.
#include "octet/quant/scheme.h"
