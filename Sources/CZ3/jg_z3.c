#include "jg_z3.h"
