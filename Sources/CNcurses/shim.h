// SwiftPM drops pkg-config's -D flags, so wide-character support is switched on here.
#ifndef PARLA_CNCURSES_SHIM_H
#define PARLA_CNCURSES_SHIM_H
#define NCURSES_WIDECHAR 1
#ifndef _XOPEN_SOURCE_EXTENDED
#define _XOPEN_SOURCE_EXTENDED 1
#endif
#include <locale.h>
#include <langinfo.h>
#include <wchar.h>
#include <curses.h>

static inline WINDOW *parla_stdscr(void) { return stdscr; }
static inline int parla_lines(void) { return LINES; }
static inline int parla_cols(void) { return COLS; }
static inline int parla_colors(void) { return COLORS; }
static inline int parla_color_pairs(void) { return COLOR_PAIRS; }
static inline attr_t parla_a_bold(void) { return A_BOLD; }
static inline attr_t parla_a_dim(void) { return A_DIM; }
static inline attr_t parla_a_underline(void) { return A_UNDERLINE; }
static inline attr_t parla_a_reverse(void) { return A_REVERSE; }
static inline attr_t parla_a_italic(void) { return A_ITALIC; }
static inline int parla_wcwidth(wchar_t c) { return wcwidth(c); }

/// Where ncurses believes the terminal's cursor is after the last update.
static inline int parla_physical_y(void) { return getcury(curscr); }
static inline int parla_physical_x(void) { return getcurx(curscr); }
static inline int parla_key_resize(void) { return KEY_RESIZE; }
static inline int parla_key_code_yes(void) { return KEY_CODE_YES; }

/// Draws one grapheme cluster (base + combining characters) at y, x.
static inline int parla_put(int y, int x, const wchar_t *cluster, attr_t attr, short pair) {
    cchar_t cell;
    if (setcchar(&cell, cluster, attr, pair, NULL) != OK) return ERR;
    return mvwadd_wch(stdscr, y, x, &cell);
}

/// Reads one key; returns OK (character in *ch), KEY_CODE_YES (key code in *ch) or ERR (none yet).
static inline int parla_get(wint_t *ch) { return wget_wch(stdscr, ch); }
/// Asks for mouse-wheel reports only (clicks stay the terminal's, for selecting text with Shift).
static inline void parla_mouse_on(void) {
    mouseinterval(0);
#ifdef BUTTON5_PRESSED
    mousemask(BUTTON4_PRESSED | BUTTON5_PRESSED, NULL);
#else
    mousemask(BUTTON4_PRESSED, NULL);
#endif
}
static inline void parla_mouse_off(void) { mousemask(0, NULL); }
static inline int parla_key_mouse(void) { return KEY_MOUSE; }
/// After KEY_MOUSE: -1 for the wheel up, 1 for down, 0 for anything else.
static inline int parla_wheel(void) {
    MEVENT event;
    if (getmouse(&event) != OK) return 0;
    if (event.bstate & BUTTON4_PRESSED) return -1;
#ifdef BUTTON5_PRESSED
    if (event.bstate & BUTTON5_PRESSED) return 1;
#endif
    return 0;
}
#endif
