using System.Buffers;

namespace RelayAppliance.Benchmarks.Parsing;

/// <summary>Builds multi-segment sequences for slow-path benchmarks.</summary>
internal static class Segments
{
    public static ReadOnlySequence<byte> Split(byte[] data, int segmentSize)
    {
        var first = new Segment(data.AsMemory(0, Math.Min(segmentSize, data.Length)), 0);
        Segment last = first;
        for (int offset = segmentSize; offset < data.Length; offset += segmentSize)
        {
            last = last.Append(data.AsMemory(offset, Math.Min(segmentSize, data.Length - offset)));
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
