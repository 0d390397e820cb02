# RF_CHECK_CFLAG(FLAG, ACTION-IF-OK)
# ----------------------------------
# Adds nothing by itself: runs ACTION-IF-OK when the C compiler accepts FLAG
# with -Werror, so an unknown warning option never breaks the build.
AC_DEFUN([RF_CHECK_CFLAG], [
	AS_VAR_PUSHDEF([rf_var], [rf_cv_cflag_$1])
	AC_CACHE_CHECK([whether $CC accepts $1], [rf_var], [
		rf_save_CFLAGS=$CFLAGS
		CFLAGS="$CFLAGS -Werror $1"
		AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
			[AS_VAR_SET([rf_var], [yes])], [AS_VAR_SET([rf_var], [no])])
		CFLAGS=$rf_save_CFLAGS
	])
	AS_VAR_IF([rf_var], [yes], [$2])
	AS_VAR_POPDEF([rf_var])
])
