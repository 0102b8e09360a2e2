/*
 * bcryptprimitives.dll shim for Wine 8.
 *
 * Rust's standard library (1.78+) gets its random bytes from ProcessPrng in bcryptprimitives.dll.
 * Wine 8 (Debian 12) does not export it, so every Rust program dies at start-up with an
 * "unimplemented function" error. This DLL exports ProcessPrng and forwards to SystemFunction036
 * (RtlGenRandom) in advapi32, which Wine has always had. It is for running the test executables and
 * the installed product under Wine in CI only; it is never shipped in the MSI.
 *
 * Build: x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll processprng-shim.c \
 *          processprng-shim.def -ladvapi32
 * Use:   place bcryptprimitives.dll beside the .exe and run with WINEDLLOVERRIDES=bcryptprimitives=n,b
 */
#include <windows.h>

/* RtlGenRandom's exported name; advapi32 exports it, the SDK headers only under this name. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    /* SystemFunction036 takes a 32-bit length: fill big buffers in chunks. */
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reason;
    (void)reserved;
    return TRUE;
}
