namespace RelayAppliance.Spool.Storage;

/// <summary>
/// Process lock on the spool folder. FileShare.None is an flock(LOCK_EX|LOCK_NB) on Linux, released by the kernel
/// when the process dies, so a crash never leaves a stale lock behind.
/// </summary>
internal sealed class SpoolLock : IDisposable
{
    public const string FileName = "spool.lock";
    private readonly FileStream _stream;

    private SpoolLock(FileStream stream) => _stream = stream;

    public static SpoolLock Acquire(string directory)
    {
        var path = Path.Combine(directory, FileName);
        try
        {
            var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            // Informational only (the flock is the lock): who holds it, for an operator looking at the folder.
            stream.SetLength(0);
            stream.Write(System.Text.Encoding.ASCII.GetBytes($"{Environment.ProcessId}\n"));
            stream.Flush();
            return new SpoolLock(stream);
        }
        catch (IOException ex) when (ex is not FileNotFoundException and not DirectoryNotFoundException)
        {
            throw new SpoolLockedException($"The spool '{directory}' is in use by another process (lock file '{path}': {ex.Message}).");
        }
    }

    public void Dispose() => _stream.Dispose();
}
