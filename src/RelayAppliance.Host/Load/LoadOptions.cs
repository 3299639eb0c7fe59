using System.Globalization;
using System.Net;
using RelayAppliance.Host.Commands;

namespace RelayAppliance.Host.Load;

/// <summary>The parameters of one <c>relayd load</c> run, validated; a bad one is a <see cref="UsageException"/> naming the option.</summary>
internal sealed record LoadOptions
{
    public static readonly TimeSpan DefaultDuration = TimeSpan.FromSeconds(60);

    public required string Target { get; init; }
    public required IPEndPoint EndPoint { get; init; }
    /// <summary>Messages to attempt; null means "until the duration ends".</summary>
    public long? Messages { get; init; }
    /// <summary>Always set: with --messages it is the cap (60 s unless given).</summary>
    public TimeSpan Duration { get; init; } = DefaultDuration;
    public int Concurrency { get; init; } = 10;
    public int Size { get; init; } = 1024;
    /// <summary>--size-dist: sizes drawn per message (then <see cref="Size"/> is their weighted mean).</summary>
    public SizeDistribution? SizeDistribution { get; init; }
    public int Seed { get; init; } = SizeDistribution.DefaultSeed;
    public int Recipients { get; init; } = 1;
    /// <summary>Messages per connection; 0 means no limit (one connection per worker for the whole run).</summary>
    public int PerConnection { get; init; } = 1;
    public bool Pipelining { get; init; }
    /// <summary>Open loop: messages per second on a fixed schedule. Null: closed loop.</summary>
    public double? Rate { get; init; }
    public string? JsonFile { get; init; }
    /// <summary>--report: the self-contained HTML page rendered from the same JSON.</summary>
    public string? ReportFile { get; init; }
    public string From { get; init; } = "loadgen@loadgen.test";
    public string To { get; init; } = "sink@loadgen.test";
    public bool AllowRemote { get; init; }
    public string Helo { get; init; } = "loadgen.test";
    /// <summary>--starttls: upgrade after EHLO (RFC 3207), then EHLO again.</summary>
    public bool StartTls { get; init; }
    /// <summary>--tls-verify: require a certificate valid for the target host; off by default (test targets are self-signed).</summary>
    public bool TlsVerify { get; init; }
    /// <summary>--auth USER: AUTH PLAIN after EHLO (after STARTTLS with --starttls).</summary>
    public LoadCredentials? Credentials { get; init; }
    public const string PasswordVariable = "RELAYD_LOAD_PASSWORD";

    public bool OpenLoop => Rate is not null;

    public const string Usage = """
          relayd load --target HOST:PORT    generate SMTP load (loopback targets only unless --allow-remote)
              [--messages N | --duration T]     stop after N messages or T (60s, 2m, 500ms); at most --duration (default 60s)
              [--concurrency C]                 connections in parallel (default 10)
              [--rate R/s]                      open loop: R messages/s on a fixed schedule, latency from the intended
                                                send time; without it, closed loop (each connection sends as replies come)
              [--size BYTES] [--recipients R]   message size incl. headers (default 1024), RCPTs per message (default 1)
              [--size-dist SPEC] [--seed N]     sizes drawn per message instead of --size, e.g. 1k:70,10k:25,1m:5
                                                (size:weight, k/m = 1024-based); same seed (default 1), same sizes
              [--per-connection M]              messages per connection, 0 = unlimited (default 1)
              [--pipelining]                    send MAIL, RCPT and DATA in one write (RFC 2920)
              [--from ADDR] [--to ADDR]         envelope (recipient n>1 becomes local+n@domain)
              [--starttls] [--tls-verify]       STARTTLS after EHLO; the certificate is NOT verified unless
                                                --tls-verify (targets are usually self-signed); "tls" latency kind
              [--auth USER [--password-file F]] AUTH PLAIN after EHLO (after STARTTLS when given); the password
                                                comes from $RELAYD_LOAD_PASSWORD or the first line of F, never argv
              [--json FILE]                     write the results as JSON (schema relayd-load/2, see README)
              [--report FILE.html]              write a self-contained HTML report (charts as inline SVG)
          relayd load report RUN.json --out FILE.html   render the HTML report of a saved --json result
          relayd load compare A.json B.json [--json]    A and B side by side with the change in %; warns when
                                                        the runs' parameters differ
        """;

    public static LoadOptions Parse(IReadOnlyList<string> args)
    {
        string? target = null, jsonFile = null, reportFile = null, sizeDist = null, from = null, to = null, authUser = null, passwordFile = null;
        long? messages = null;
        TimeSpan? duration = null;
        int concurrency = 10, recipients = 1, perConnection = 1, seed = SizeDistribution.DefaultSeed;
        int? size = null;
        double? rate = null;
        bool pipelining = false, allowRemote = false, startTls = false, tlsVerify = false;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            string? inline = null;
            var equals = arg.IndexOf('=', StringComparison.Ordinal);
            if (arg.StartsWith("--", StringComparison.Ordinal) && equals > 0)
            {
                inline = arg[(equals + 1)..];
                arg = arg[..equals];
            }
            string Value() => inline ?? (i + 1 < args.Count ? args[++i] : throw new UsageException($"load: {arg} needs a value"));
            switch (arg)
            {
                case "--target": target = Value(); break;
                case "--messages": messages = ParseLong(arg, Value(), 1); break;
                case "--duration": duration = ParseDuration(arg, Value()); break;
                case "--concurrency": concurrency = (int)ParseLong(arg, Value(), 1, 10_000); break;
                case "--size": size = (int)ParseLong(arg, Value(), 64, 100_000_000); break;
                case "--size-dist": sizeDist = Value(); break;
                case "--seed": seed = (int)ParseLong(arg, Value(), 0, int.MaxValue); break;
                case "--recipients": recipients = (int)ParseLong(arg, Value(), 1, 1000); break;
                case "--per-connection": perConnection = (int)ParseLong(arg, Value(), 0, int.MaxValue); break;
                case "--rate": rate = ParseRate(arg, Value()); break;
                case "--json": jsonFile = Value(); break;
                case "--report": reportFile = Value(); break;
                case "--from": from = ParseAddress(arg, Value()); break;
                case "--to": to = ParseAddress(arg, Value()); break;
                case "--pipelining": pipelining = true; break;
                case "--allow-remote": allowRemote = true; break;
                case "--starttls": startTls = true; break;
                case "--tls-verify": tlsVerify = true; break;
                case "--auth": authUser = Value(); break;
                case "--password-file": passwordFile = Value(); break;
                default: throw new UsageException($"load: unknown option '{args[i]}'");
            }
        }
        if (target is null)
        {
            throw new UsageException("load: --target HOST:PORT is required");
        }
        if (size is not null && sizeDist is not null)
        {
            throw new UsageException("load: --size and --size-dist exclude each other; give one");
        }
        if (tlsVerify && !startTls)
        {
            throw new UsageException("load: --tls-verify needs --starttls");
        }
        var credentials = authUser is null ? null : new LoadCredentials(authUser, ReadPassword(passwordFile));
        if (credentials is null && passwordFile is not null)
        {
            throw new UsageException("load: --password-file needs --auth USER");
        }
        var distribution = sizeDist is null ? null : SizeDistribution.Parse("--size-dist", sizeDist, seed);
        var endPoint = ResolveTarget(target, allowRemote);
        return new LoadOptions
        {
            Target = target,
            EndPoint = endPoint,
            Messages = messages,
            Duration = duration ?? DefaultDuration,
            Concurrency = concurrency,
            Size = distribution?.MeanSize ?? size ?? 1024,
            SizeDistribution = distribution,
            Seed = seed,
            Recipients = recipients,
            PerConnection = perConnection,
            Pipelining = pipelining,
            Rate = rate,
            JsonFile = jsonFile,
            ReportFile = reportFile,
            From = from ?? "loadgen@loadgen.test",
            To = to ?? "sink@loadgen.test",
            AllowRemote = allowRemote,
            StartTls = startTls,
            TlsVerify = tlsVerify,
            Credentials = credentials,
        };
    }

    /// <summary>The first line of --password-file, else $RELAYD_LOAD_PASSWORD: never argv, where ps would show it.</summary>
    private static string ReadPassword(string? passwordFile)
    {
        if (passwordFile is not null)
        {
            try
            {
                return File.ReadLines(passwordFile).FirstOrDefault()?.TrimEnd('\r') is { Length: > 0 } line
                    ? line
                    : throw new UsageException($"load: --password-file {passwordFile} is empty");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new UsageException($"load: --password-file {passwordFile} cannot be read ({e.Message})");
            }
        }
        return Environment.GetEnvironmentVariable(PasswordVariable) is { Length: > 0 } password
            ? password
            : throw new UsageException($"load: --auth needs a password in ${PasswordVariable} or --password-file FILE");
    }

    /// <summary>The host part of --target, for TLS server name indication and --tls-verify.</summary>
    public string TargetHost => Target[..Target.LastIndexOf(':')].Trim('[', ']');

    private static IPEndPoint ResolveTarget(string target, bool allowRemote)
    {
        var colon = target.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(target.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            throw new UsageException($"load: --target '{target}' is not HOST:PORT");
        }
        var host = target[..colon].Trim('[', ']');
        IPAddress? address;
        if (!IPAddress.TryParse(host, out address))
        {
            try
            {
                address = Dns.GetHostAddresses(host).FirstOrDefault();
            }
            catch (System.Net.Sockets.SocketException e)
            {
                throw new UsageException($"load: --target host '{host}' does not resolve ({e.SocketErrorCode})");
            }
            if (address is null)
            {
                throw new UsageException($"load: --target host '{host}' does not resolve");
            }
        }
        if (!allowRemote && !IPAddress.IsLoopback(address))
        {
            throw new UsageException($"load: --target {target} is not a loopback address; pass --allow-remote to load another host");
        }
        return new IPEndPoint(address, port);
    }

    private static long ParseLong(string option, string value, long min, long max = long.MaxValue) =>
        long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new UsageException($"load: {option} '{value}' must be a whole number from {min} to {max}");

    internal static TimeSpan ParseDuration(string option, string value)
    {
        var (digits, scale) = value switch
        {
            _ when value.EndsWith("ms", StringComparison.Ordinal) => (value[..^2], 0.001),
            _ when value.EndsWith('s') => (value[..^1], 1.0),
            _ when value.EndsWith('m') => (value[..^1], 60.0),
            _ when value.EndsWith('h') => (value[..^1], 3600.0),
            _ => (value, 1.0),
        };
        return double.TryParse(digits, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n) && n > 0 && n * scale <= 7 * 86400
            ? TimeSpan.FromSeconds(n * scale)
            : throw new UsageException($"load: {option} '{value}' is not a duration like 30s, 2m or 500ms");
    }

    private static double ParseRate(string option, string value)
    {
        var digits = value.EndsWith("/s", StringComparison.Ordinal) ? value[..^2] : value;
        return double.TryParse(digits, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var n) && n > 0 && n <= 10_000_000
            ? n
            : throw new UsageException($"load: {option} '{value}' is not a rate like 500/s");
    }

    private static string ParseAddress(string option, string value)
    {
        var at = value.LastIndexOf('@');
        return at > 0 && at < value.Length - 1 && !value.AsSpan().ContainsAny("<> \r\n")
            ? value
            : throw new UsageException($"load: {option} '{value}' is not an address like user@example.test");
    }
}

/// <summary>--auth's user and password; <see cref="ToString"/> leaves the password out (LoadOptions is a record that prints its members).</summary>
internal sealed class LoadCredentials(string user, string password)
{
    public string User { get; } = user;
    public string Password { get; } = password;

    public override string ToString() => $"{User} (password not shown)";
}
