using System.Globalization;
using System.Runtime.InteropServices;

namespace RelayAppliance.Host.Systemd;

/// <summary>
/// Whether stderr is connected to the journal: systemd sets JOURNAL_STREAM to "device:inode" of the stream it gave the
/// service, and a service may log in the journal's own format only while its stderr is still that stream (a shell
/// redirect under `systemctl` must not get "&lt;6&gt;" prefixes). See systemd.exec(5), "JOURNAL_STREAM".
/// </summary>
internal static partial class JournalStream
{
    private const int StandardError = 2;
    private const int AtEmptyPath = 0x1000;   // <fcntl.h> AT_EMPTY_PATH: stat the descriptor itself
    private const uint StatxIno = 0x100;      // <linux/stat.h> STATX_INO (the device is always filled in)

    public static bool IsStandardError() => Matches(Environment.GetEnvironmentVariable("JOURNAL_STREAM"), StandardError);

    /// <summary>True when <paramref name="journalStream"/> ("dev:ino", decimal) names the file open at <paramref name="fd"/>.</summary>
    public static bool Matches(string? journalStream, int fd)
    {
        if (string.IsNullOrEmpty(journalStream) || !TryParse(journalStream, out var device, out var inode))
        {
            return false;
        }
        return TryStat(fd, out var actualDevice, out var actualInode) && actualDevice == device && actualInode == inode;
    }

    internal static bool TryParse(string text, out ulong device, out ulong inode)
    {
        inode = 0;
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        return ulong.TryParse(text.AsSpan(0, Math.Max(colon, 0)), NumberStyles.None, CultureInfo.InvariantCulture, out device)
            & ulong.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out inode)
            && colon > 0;
    }

    /// <summary>
    /// statx(2) rather than fstat(2): struct statx has one layout on every architecture, struct stat does not. The device
    /// number is glibc's makedev(major, minor), which is what systemd prints and Python's os.stat().st_dev returns.
    /// </summary>
    internal static bool TryStat(int fd, out ulong device, out ulong inode)
    {
        device = inode = 0;
        Span<byte> buffer = stackalloc byte[256]; // sizeof(struct statx)
        buffer.Clear();
        try
        {
            if (Statx(fd, "", AtEmptyPath, StatxIno, ref MemoryMarshal.GetReference(buffer)) != 0)
            {
                return false;
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // a libc without statx (glibc < 2.28): plain format, which is always safe
        }
        inode = MemoryMarshal.Read<ulong>(buffer[32..]);          // stx_ino (native byte order)
        ulong major = MemoryMarshal.Read<uint>(buffer[136..]);    // stx_dev_major
        ulong minor = MemoryMarshal.Read<uint>(buffer[140..]);    // stx_dev_minor
        device = ((major & 0x00000fff) << 8) | ((major & 0xfffff000) << 32) | (minor & 0x000000ff) | ((minor & 0xffffff00) << 12);
        return true;
    }

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int dirfd, string path, int flags, uint mask, ref byte buffer);
}
