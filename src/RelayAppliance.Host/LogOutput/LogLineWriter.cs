using System.Text;

namespace RelayAppliance.Host.LogOutput;

/// <summary>
/// Collects log lines (UTF-8) and writes them to the output from one thread, in batches: the first line into an empty
/// batch wakes the writer, which waits <see cref="GatherTime"/> for more before one write of all of them.
/// </summary>
/// <remarks>
/// relayd logs a line per accepted message and per delivery. Microsoft.Extensions.Logging.Console wrote each line
/// with its own system call and woke its thread for nearly every one: at Information level that was 10–16 % more CPU
/// per 1 KiB message at 100 messages per connection (perf/RESULTS.md item 18). Here a busy relayd makes at most one
/// write and one wake-up per <see cref="GatherTime"/>. A line waits at most that long; lines not yet written when the
/// process is killed are lost, as they were in the console logger's queue. When the output falls behind by
/// <see cref="MaxPendingBytes"/>, loggers wait for it (as the console logger's full queue made them) rather than drop
/// lines or grow without bound.
/// </remarks>
internal sealed class LogLineWriter : IDisposable
{
    public static readonly TimeSpan GatherTime = TimeSpan.FromMilliseconds(10);
    public const int MaxPendingBytes = 1 << 20;

    private readonly Stream _output;
    private readonly object _gate = new(); // a monitor: the writer and full-buffer loggers wait on it
    private readonly Thread _thread;
    private byte[] _pending = new byte[16 * 1024];
    private int _pendingLength;
    private byte[] _writing = new byte[16 * 1024];
    private bool _stopping;

    public LogLineWriter(Stream output)
    {
        _output = output;
        _thread = new Thread(WriteLoop) { IsBackground = true, Name = "log-writer" };
        _thread.Start();
    }

    /// <summary>Appends one line: <paramref name="prefix"/>, then each text part after a space, newlines in the
    /// texts replaced by spaces (one event, one line), then a line feed.</summary>
    public void WriteLine(ReadOnlySpan<byte> prefix, string message, string? exception)
    {
        int maxLength = prefix.Length + 3 + Encoding.UTF8.GetMaxByteCount(message.Length + (exception?.Length ?? 0));
        lock (_gate)
        {
            while (_pendingLength >= MaxPendingBytes && !_stopping)
            {
                Monitor.Wait(_gate);
            }
            if (_pending.Length - _pendingLength < maxLength)
            {
                Array.Resize(ref _pending, Math.Max(_pending.Length * 2, _pendingLength + maxLength));
            }
            bool wasEmpty = _pendingLength == 0;
            var line = _pending.AsSpan(_pendingLength);
            prefix.CopyTo(line);
            int length = prefix.Length;
            length += AppendText(line[length..], message);
            if (exception is not null)
            {
                length += AppendText(line[length..], exception);
            }
            line[length++] = (byte)'\n';
            _pendingLength += length;
            if (wasEmpty)
            {
                Monitor.PulseAll(_gate);
            }
        }
    }

    private static int AppendText(Span<byte> destination, string text)
    {
        destination[0] = (byte)' ';
        int length = 1 + Encoding.UTF8.GetBytes(text, destination[1..]);
        var written = destination[1..length];
        written.Replace((byte)'\r', (byte)' ');
        written.Replace((byte)'\n', (byte)' ');
        return length;
    }

    private void WriteLoop()
    {
        while (true)
        {
            lock (_gate)
            {
                while (_pendingLength == 0 && !_stopping)
                {
                    Monitor.Wait(_gate);
                }
                if (_pendingLength == 0)
                {
                    return; // stopping, and everything is written
                }
            }
            if (!Volatile.Read(ref _stopping))
            {
                Thread.Sleep(GatherTime);
            }
            int length;
            lock (_gate)
            {
                (_pending, _writing) = (_writing, _pending);
                length = _pendingLength;
                _pendingLength = 0;
                Monitor.PulseAll(_gate); // loggers waiting for room
            }
            try
            {
                _output.Write(_writing, 0, length);
                _output.Flush();
            }
            catch (IOException)
            {
                // stderr is gone (a closed pipe): there is nowhere left to report that
            }
        }
    }

    /// <summary>Writes what is pending, then stops the writer thread.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _stopping = true;
            Monitor.PulseAll(_gate);
        }
        _thread.Join();
    }
}
