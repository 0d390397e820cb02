/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef RF_CUNIT_MAIN_H
#define RF_CUNIT_MAIN_H

/*
 * One main() for every CUnit test program: a test file defines
 * `static CU_TestInfo tests[]` and then writes RF_CUNIT_MAIN("suite name").
 * The exit code is non-zero when any assertion failed, so make check
 * sees the failure.
 */
#include <CUnit/Basic.h>
#include <stdlib.h>

#define RF_CUNIT_MAIN(suite_name)                                              \
	int main(void)                                                         \
	{                                                                      \
		CU_SuiteInfo suites[] = {                                      \
			{suite_name, NULL, NULL, NULL, NULL, tests},           \
			CU_SUITE_INFO_NULL};                                   \
		unsigned int failed;                                           \
                                                                               \
		if (CU_initialize_registry() != CUE_SUCCESS)                   \
			return 99;                                             \
		if (CU_register_suites(suites) != CUE_SUCCESS)                 \
			return 99;                                             \
		CU_basic_set_mode(CU_BRM_VERBOSE);                             \
		CU_basic_run_tests();                                          \
		failed = CU_get_number_of_failures() +                         \
			 CU_get_number_of_tests_failed();                      \
		if (CU_get_number_of_tests_run() == 0)                         \
			failed = 1;                                            \
		CU_cleanup_registry();                                         \
		return failed ? 1 : 0;                                         \
	}

#endif
