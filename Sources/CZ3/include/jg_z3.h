// Why: Swift imports z3.h directly; this shim only gives the module a name and links libz3.
#pragma once
#include <z3.h>
