using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace RelayAppliance.Spool.Storage;

/// <summary>
/// Opens a segment file with O_DSYNC: every write returns once its data, and any metadata needed to read it back (the
/// file's size, its block map), is on the disk.
/// </summary>
/// <remarks>
/// .NET's <see cref="FileOptions.WriteThrough"/> is O_SYNC, which also makes each write flush the inode's timestamps.
/// Every write changes the modification time, so on this VM's ext4 (no journal) most commits paid a second synchronous
/// block write for the inode, and on a journalled ext4 they would pay a journal commit (perf/RESULTS.md item 18).
/// Segments are zero-filled ahead of the commits, so a commit's write neither grows the file nor allocates blocks, and
/// O_DSYNC has nothing else to flush. A write that does grow the file still flushes its new size: O_DSYNC requires it.
/// </remarks>
internal static partial class DataSyncFile
{
    // Linux's values; x86-64 and arm64 share them (asm-generic/fcntl.h).
    private const int ReadWrite = 0x2, Create = 0x40, DataSync = 0x1000, CloseOnExec = 0x80000;
    private const uint CreateMode = 0x1B6; // 0666 before the umask, as .NET creates files
    private const int Interrupted = 4; // EINTR

    public static SafeFileHandle OpenOrCreate(string path)
    {
        int fd;
        do
        {
            fd = Open(path, ReadWrite | Create | DataSync | CloseOnExec, CreateMode);
        }
        while (fd < 0 && Marshal.GetLastPInvokeError() == Interrupted);
        if (fd < 0)
        {
            int error = Marshal.GetLastPInvokeError();
            throw new IOException($"Cannot open spool segment '{path}': {Marshal.GetPInvokeErrorMessage(error)}", error);
        }
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags, uint mode);
}
