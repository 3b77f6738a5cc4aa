// Rendering of FidelityReport (table, JSON, HTML). Being written.
#include "octet/runtime/fidelity_report.h"
