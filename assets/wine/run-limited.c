/*
 * run-limited.exe COMMAND LINE...: runs a command with the limited (UAC-filtered, not elevated)
 * token linked to this process's elevated administrator token, waits for it and returns its exit
 * code. The Windows proof (.ci/windows.sh) uses it to run `configure` as an administrator who did
 * not elevate: the connector must refuse, never store the secrets in that account's own vault.
 *
 * Works on Windows (from an elevated prompt) and under Wine, whose processes start with a full
 * administrator token that has a linked limited one. Built with MinGW:
 *   x86_64-w64-mingw32-gcc -O2 -municode -o run-limited.exe run-limited.c -ladvapi32
 */
#include <windows.h>
#include <stdio.h>

int wmain(void)
{
    HANDLE token, limited;
    TOKEN_LINKED_TOKEN linked;
    TOKEN_ELEVATION elevation;
    DWORD size;
    STARTUPINFOW startup = { sizeof(startup) };
    PROCESS_INFORMATION process;
    DWORD code = 1;
    WCHAR *line = GetCommandLineW();

    /* Skip our own program name (quoted or not) and the blanks after it. */
    if (*line == L'"') { line++; while (*line && *line != L'"') line++; if (*line) line++; }
    else { while (*line && *line != L' ' && *line != L'\t') line++; }
    while (*line == L' ' || *line == L'\t') line++;
    if (!*line) { fwprintf(stderr, L"usage: run-limited.exe COMMAND [ARGS...]\n"); return 2; }

    if (!OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &token)
        || !GetTokenInformation(token, TokenLinkedToken, &linked, sizeof(linked), &size)) {
        fwprintf(stderr, L"run-limited: no linked token (error %lu)\n", GetLastError());
        return 3;
    }
    if (!DuplicateTokenEx(linked.LinkedToken, MAXIMUM_ALLOWED, NULL, SecurityImpersonation,
                          TokenPrimary, &limited)) {
        fwprintf(stderr, L"run-limited: cannot duplicate the linked token (error %lu)\n", GetLastError());
        return 3;
    }
    if (!GetTokenInformation(limited, TokenElevation, &elevation, sizeof(elevation), &size)
        || elevation.TokenIsElevated) {
        fwprintf(stderr, L"run-limited: the linked token is elevated too; nothing to test\n");
        return 3;
    }
    startup.dwFlags = STARTF_USESTDHANDLES;
    startup.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
    startup.hStdOutput = GetStdHandle(STD_OUTPUT_HANDLE);
    startup.hStdError = GetStdHandle(STD_ERROR_HANDLE);
    if (!CreateProcessAsUserW(limited, NULL, line, NULL, NULL, TRUE, 0, NULL, NULL, &startup, &process)) {
        fwprintf(stderr, L"run-limited: cannot start the command (error %lu)\n", GetLastError());
        return 3;
    }
    WaitForSingleObject(process.hProcess, INFINITE);
    GetExitCodeProcess(process.hProcess, &code);
    return (int)code;
}
