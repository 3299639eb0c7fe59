namespace RelayAppliance.Server.Tests.Pop3;

/// <summary>Runs every Transcripts/*.pop3 file (format in Transcripts/README.md) over a real socket.</summary>
public sealed class Pop3TranscriptTests
{
    private static string TranscriptDirectory => Path.Combine(AppContext.BaseDirectory, "Pop3", "Transcripts");

    public static TheoryData<string> Transcripts()
    {
        var names = new TheoryData<string>();
        foreach (var file in Directory.GetFiles(TranscriptDirectory, "*.pop3").Order(StringComparer.Ordinal))
        {
            names.Add(Path.GetFileName(file));
        }
        return names;
    }

    [Theory]
    [MemberData(nameof(Transcripts))]
    public async Task Transcript(string name)
    {
        await using var pop = await Pop3Fixture.StartAsync();
        var uid1 = pop.Store.Deliver(Pop3Fixture.Alice, "Subject: one\r\n\r\n.dot\r\nbody\r\n");
        var uid2 = pop.Store.Deliver(Pop3Fixture.Alice, "Subject: two\r\n\r\nx");
        await using var client = await RawPop3Client.ConnectAsync(pop.Port);
        var number = 0;
        foreach (var raw in await File.ReadAllLinesAsync(Path.Combine(TranscriptDirectory, name)))
        {
            number++;
            var line = raw.Replace("{uid1}", uid1, StringComparison.Ordinal).Replace("{uid2}", uid2, StringComparison.Ordinal);
            if (line.StartsWith("C: ", StringComparison.Ordinal))
            {
                await client.SendAsync(line[3..] + "\r\n");
            }
            else if (line.StartsWith("S: ", StringComparison.Ordinal))
            {
                var received = await client.ReadLineAsync();
                Assert.True(line[3..] == received, $"{name}:{number}: expected '{line[3..]}', received '{received}'");
            }
            else if (line == "CLOSED")
            {
                Assert.True(await client.IsClosedAsync(), $"{name}:{number}: still open");
            }
            else if (line.Length > 0 && !line.StartsWith('#'))
            {
                Assert.Fail($"{name}:{number}: cannot read '{raw}'");
            }
        }
    }
}
