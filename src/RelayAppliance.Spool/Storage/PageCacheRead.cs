using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace RelayAppliance.Spool.Storage;

/// <summary>
/// A positional read that never waits for the disk: <c>preadv2</c> with <c>RWF_NOWAIT</c> returns the bytes only if the
/// page cache already holds them, and fails with EAGAIN otherwise. It lets a caller on a socket thread read spool data
/// it just wrote (still cached) in place, and hand only the rare cold read to the thread pool.
/// </summary>
internal static unsafe partial class PageCacheRead
{
    // Linux's values (uapi/linux/fs.h, asm-generic/errno*.h); x86-64 and arm64 share them.
    private const int NoWait = 0x8; // RWF_NOWAIT
    private const int NotSupported = 95, NoSyscall = 38, InvalidArgument = 22; // EOPNOTSUPP, ENOSYS, EINVAL

    public enum Outcome
    {
        Read,        // all of the destination was read from the page cache
        NotRead,     // some of it was not cached (or the read failed): read it the ordinary way
        Unsupported, // this kernel or file system has no RWF_NOWAIT reads: there is no point asking again
    }

    /// <summary>Reads all of <paramref name="destination"/> at <paramref name="offset"/> if the page cache holds it.</summary>
    public static Outcome TryRead(SafeFileHandle file, Span<byte> destination, long offset)
    {
        nint read;
        fixed (byte* start = destination)
        {
            var vector = new IoVector(start, (nuint)destination.Length);
            read = PReadV2(file, &vector, 1, offset, NoWait);
        }
        if (read == destination.Length)
            return Outcome.Read;
        return read < 0 && Marshal.GetLastPInvokeError() is NotSupported or NoSyscall or InvalidArgument
            ? Outcome.Unsupported
            : Outcome.NotRead;
    }

    [StructLayout(LayoutKind.Sequential)]
    private readonly struct IoVector(byte* start, nuint length)
    {
        public readonly byte* Start = start;
        public readonly nuint Length = length;
    }

    [LibraryImport("libc", EntryPoint = "preadv2", SetLastError = true)]
    private static partial nint PReadV2(SafeFileHandle file, IoVector* vectors, int count, long offset, int flags);
}
