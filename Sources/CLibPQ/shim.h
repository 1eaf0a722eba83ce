// Debian installs libpq's header under /usr/include/postgresql.
#include <postgresql/libpq-fe.h>
