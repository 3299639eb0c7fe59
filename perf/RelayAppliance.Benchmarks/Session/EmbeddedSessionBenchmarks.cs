using BenchmarkDotNet.Attributes;
using RelayAppliance.Testing;

namespace RelayAppliance.Benchmarks.Session;

/// <summary>
/// A whole SMTP session through the real SmtpSession over an in-memory pipe pair (no sockets): 220, EHLO, MAIL,
/// RCPT, DATA with a <see cref="BodySize"/> body, QUIT — one command per write (lockstep, as smtp-source) or
/// pipelined (RFC 2920: MAIL+RCPT+DATA in one write, QUIT after the final dot). The message goes into a real
/// MessageSpool and the 250 waits for its commit: on the disk (<see cref="SpoolOn"/> = Disk, fsync included) or on
/// tmpfs (/dev/shm, where fsync costs next to nothing, so the session's own cost shows). WithoutMail (220, EHLO,
/// QUIT) separates the per-connection cost from the per-message one.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class EmbeddedSessionBenchmarks
{
    private EmbeddedSmtpTransaction _transaction = null!;

    public enum Device { Tmpfs, Disk }

    [Params(Device.Tmpfs, Device.Disk)]
    public Device SpoolOn { get; set; }

    [Params(1024, 64 * 1024)]
    public int BodySize { get; set; }

    [GlobalSetup]
    public void Setup() =>
        _transaction = new EmbeddedSmtpTransaction(SpoolOn == Device.Tmpfs ? "/dev/shm" : Path.GetTempPath(), BodySize);

    [GlobalCleanup]
    public void Cleanup() => _transaction.DisposeAsync().AsTask().GetAwaiter().GetResult();

    [Benchmark(Baseline = true)]
    public Task<int> Lockstep() => _transaction.RunLockstepAsync();

    [Benchmark]
    public Task<int> Pipelined() => _transaction.RunPipelinedAsync();

    /// <summary>220, EHLO, QUIT: what a connection costs without a message (the rest of Lockstep is the transaction).</summary>
    [Benchmark]
    public Task<int> WithoutMail() => _transaction.RunWithoutMailAsync();
}
