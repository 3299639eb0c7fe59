using System.Text.Unicode;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace RelayAppliance.Host.LogOutput;

/// <summary>
/// One line per event, in the formats of Microsoft.Extensions.Logging.Console that relayd used before (without
/// colours), written through a <see cref="LogLineWriter"/>:
/// plain, <c>2026-11-29T07:51:54.338Z info: RelayAppliance.Smtp[1002] message exception</c>;
/// journal, <c>&lt;6&gt;RelayAppliance.Smtp[1002] message exception</c>: a syslog priority that journald maps to
/// PRIORITY= (so <c>journalctl -p warning</c> works) and no timestamp, since journald adds its own.
/// </summary>
internal sealed class LineLoggerProvider(LogLineWriter writer, bool journal, TimeProvider time) : ILoggerProvider
{
    /// <summary>
    /// Adds the provider so that the logger factory owns it: disposing the factory writes the lines still pending.
    /// (A provider instance passed to AddProvider is not disposed with the factory.)
    /// </summary>
    public static ILoggingBuilder AddTo(ILoggingBuilder builder, Stream output, bool journal, TimeProvider time)
    {
        builder.Services.AddSingleton<ILoggerProvider>(_ => new LineLoggerProvider(new LogLineWriter(output), journal, time));
        return builder;
    }

    public ILogger CreateLogger(string categoryName) => new LineLogger(this, categoryName);

    public void Dispose() => writer.Dispose();

    private void Write(LogLevel level, string category, int eventId, string message, Exception? exception)
    {
        Span<byte> prefix = stackalloc byte[256];
        bool fits = journal
            ? Utf8.TryWrite(prefix, $"<{SyslogPriority(level)}>{category}[{eventId}]", out int length)
            : Utf8.TryWrite(prefix, $"{time.GetUtcNow().UtcDateTime:yyyy-MM-ddTHH:mm:ss.fff}Z {LevelName(level)}: {category}[{eventId}]", out length);
        // relayd's category names are short; were one not to fit, the line would still carry the message.
        writer.WriteLine(fits ? prefix[..length] : [], message, exception?.ToString());
    }

    private static int SyslogPriority(LogLevel level) => level switch
    {
        LogLevel.Critical => 2,
        LogLevel.Error => 3,
        LogLevel.Warning => 4,
        LogLevel.Information => 6,
        _ => 7,
    };

    private static string LevelName(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        _ => "crit",
    };

    private sealed class LineLogger(LineLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }
            string message = formatter(state, exception);
            if (message.Length == 0 && exception is null)
            {
                return;
            }
            provider.Write(logLevel, category, eventId.Id, message, exception);
        }
    }
}
