#include "test.h"
static void test_nothing(void)
{
}
DFD_TEST_MAIN({ "nothing", test_nothing })
